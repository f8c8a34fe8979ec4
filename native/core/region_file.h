// region_file.h — opening a region's file so that the file cannot be turned against its opener.
// Owns: the directory check, the no-follow open or exclusive create, the fstat checks on the open
// descriptor, the flock, and replacing our own file with a fresh one (reset). region.cc decides
// what to do with the file's contents; nothing here reads or writes them.
//
// Invariants:
//  - The last path component is never followed: a symlink there is ERR_REGION_SYMLINK. A new
//    file is only ever made with O_CREAT | O_EXCL (never truncating or adopting what is there).
//  - Every check is made on the open descriptor (fstat), never on the path; the path is looked at
//    again only to confirm, under the flock, that it still names the locked file.
//  - A refused file is left byte-for-byte and mode-for-mode as it was: nothing here writes,
//    truncates, chmods or unlinks a file that has not passed every check (and unlinking is
//    reserved for region.cc's reset of a file carrying our magic).
//  - The directory is opened once and every later step is relative to that descriptor (openat,
//    fstatat, unlinkat), so the directory checked is the directory used.
#pragma once
#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace shm {

// Codes of refusals (the CacheError `code` the addon throws). nullptr = no error.
extern const char* const kErrBadRegion;  // ERR_BAD_REGION: cannot open / not a region
extern const char* const kErrSymlink;    // ERR_REGION_SYMLINK
extern const char* const kErrNotFile;    // ERR_REGION_NOT_FILE
extern const char* const kErrOwner;      // ERR_REGION_OWNER
extern const char* const kErrMode;       // ERR_REGION_MODE
extern const char* const kErrLinks;      // ERR_REGION_LINKS
extern const char* const kErrDirUnsafe;  // ERR_REGION_DIR_UNSAFE
extern const char* const kErrForeign;    // ERR_REGION_FOREIGN

struct FileRules {
  uint32_t mode = 0600;        // a new file's mode; also the group/other write bits a file may have
  bool mode_explicit = false;  // the caller asked for `mode`: fchmod a new file to it (past the umask)
  int64_t allow_owner = -1;    // a uid besides the effective one whose file may be used (-1: none)
};

struct RegionFile {
  int fd = -1;        // open, flocked (LOCK_EX, or LOCK_SH when read-only)
  int dirfd = -1;     // the directory, opened once
  std::string name;   // the last component, relative to dirfd
  struct stat st {};  // fstat of fd, taken after the lock
  bool created = false;
  void close();  // unlocks and closes both descriptors
};

// Opens (and, unless readonly, creates when missing) the file at path, applies every check and
// takes the flock. Returns nullptr with *out holding the file, or an error code with *err saying
// what was refused, naming the path and the fix.
const char* region_file_open(const std::string& path, const FileRules& rules, bool readonly, RegionFile* out,
                             std::string* err);

// Reset: replaces f's file (already opened and checked by region_file_open, carrying our magic,
// and locked) with a fresh empty one made with O_CREAT | O_EXCL, and locks that. The old name is
// unlinked, never truncated: processes still mapping the old file keep their pages. On failure f
// is closed.
const char* region_file_recreate(const std::string& path, const FileRules& rules, RegionFile* f, std::string* err);

}  // namespace shm
