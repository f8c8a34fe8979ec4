// region_file.cc — see region_file.h.
#include "core/region_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace shm {

const char* const kErrBadRegion = "ERR_BAD_REGION";
const char* const kErrSymlink = "ERR_REGION_SYMLINK";
const char* const kErrNotFile = "ERR_REGION_NOT_FILE";
const char* const kErrOwner = "ERR_REGION_OWNER";
const char* const kErrMode = "ERR_REGION_MODE";
const char* const kErrLinks = "ERR_REGION_LINKS";
const char* const kErrDirUnsafe = "ERR_REGION_DIR_UNSAFE";
const char* const kErrForeign = "ERR_REGION_FOREIGN";

void RegionFile::close() {
  if (fd >= 0) {
    flock(fd, LOCK_UN);
    ::close(fd);
  }
  if (dirfd >= 0) ::close(dirfd);
  fd = dirfd = -1;
}

static std::string octal(uint32_t m) {
  char b[16];
  std::snprintf(b, sizeof b, "0%o", m & 07777);
  return b;
}

// The checks on an open descriptor's fstat. Returns nullptr when the file may be used.
static const char* check_stat(const std::string& path, const struct stat& st, const FileRules& rules,
                              std::string* err) {
  if (!S_ISREG(st.st_mode)) {
    *err = path + " is not a regular file (" +
           (S_ISDIR(st.st_mode)    ? "a directory"
            : S_ISFIFO(st.st_mode) ? "a FIFO"
            : S_ISSOCK(st.st_mode) ? "a socket"
                                   : "a device") +
           "): refusing to use it as a region; give a path of a regular file (or of none)";
    return kErrNotFile;
  }
  uid_t me = geteuid();
  if (st.st_uid != me && !(rules.allow_owner >= 0 && uint64_t(st.st_uid) == uint64_t(rules.allow_owner))) {
    *err = path + " is owned by uid " + std::to_string(st.st_uid) + ", not by this process's uid " +
           std::to_string(me) + ": refusing to use another user's file as a region (remove it if it is not " +
           "meant to be here, or pass allowOwner: " + std::to_string(st.st_uid) + " / --file-owner " +
           std::to_string(st.st_uid) + " if that user shares it with you deliberately)";
    return kErrOwner;
  }
  uint32_t extra = uint32_t(st.st_mode) & 022 & ~rules.mode;
  if (extra) {
    *err = path + " has mode " + octal(uint32_t(st.st_mode)) + ": writable by " +
           ((extra & 02) ? "other users" : "its group") + " beyond the mode " + octal(rules.mode) +
           " it is opened with: refusing it (chmod " + octal(uint32_t(st.st_mode) & ~extra) + " " + path +
           ", or pass mode " + octal(rules.mode | (uint32_t(st.st_mode) & 0777)) + " if that sharing is deliberate)";
    return kErrMode;
  }
  if (st.st_nlink != 1) {
    *err = path + " has " + std::to_string(st.st_nlink) + " hard links: refusing it (a link may make another " +
           "file stand in for the region; remove the extra links, or remove the file)";
    return kErrLinks;
  }
  return nullptr;
}

static bool split_path(const std::string& path, std::string* dir, std::string* name) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *name = path;
  } else {
    *dir = slash == 0 ? "/" : path.substr(0, slash);
    *name = path.substr(slash + 1);
  }
  return !name->empty() && *name != "." && *name != "..";
}

// Creates name in f->dirfd with O_EXCL. Returns the descriptor, or -1 with errno.
static int create_excl(RegionFile* f, const FileRules& rules) {
  int fd = openat(f->dirfd, f->name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                  mode_t(rules.mode & 0777));
  if (fd >= 0 && rules.mode_explicit) {
    // The caller asked for this mode (e.g. 0660 to share with a group): past the umask. A file we
    // just made exclusively is ours, so this changes nobody else's.
    if (fchmod(fd, mode_t(rules.mode & 0777)) != 0) {
      int e = errno;
      unlinkat(f->dirfd, f->name.c_str(), 0);
      ::close(fd);
      errno = e;
      return -1;
    }
  }
  return fd;
}

const char* region_file_open(const std::string& path, const FileRules& rules, bool readonly, RegionFile* out,
                             std::string* err) {
  RegionFile f;
  std::string dir;
  if (!split_path(path, &dir, &f.name)) {
    *err = path + " does not name a file: give the path of a region file";
    return kErrNotFile;
  }
  f.dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (f.dirfd < 0) {
    *err = "cannot open " + path + ": directory " + dir + ": " + std::strerror(errno);
    return kErrBadRegion;
  }
  struct stat dst;
  if (fstat(f.dirfd, &dst) != 0) {
    *err = "cannot open " + path + ": cannot stat directory " + dir + ": " + std::strerror(errno);
    f.close();
    return kErrBadRegion;
  }
  if ((dst.st_mode & S_IWOTH) && !(dst.st_mode & S_ISVTX)) {
    *err = "the directory of " + path + " (" + dir + ", mode " + octal(uint32_t(dst.st_mode)) +
           ") is writable by every user without the sticky bit, so anyone can replace the file: refusing it " +
           "(put the region in a directory of your own, or chmod +t / o-w " + dir + ")";
    f.close();
    return kErrDirUnsafe;
  }
  // O_NONBLOCK: opening a FIFO planted at the path must not hang us (cleared again below).
  const int oflags = (readonly ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  // A bounded number of tries: the name can change between open and lock (another opener's reset).
  for (int attempt = 0; attempt < 32; ++attempt) {
    bool created = false;
    int fd = openat(f.dirfd, f.name.c_str(), oflags);
    if (fd < 0 && errno == ENOENT && !readonly) {
      fd = create_excl(&f, rules);
      if (fd < 0 && errno == EEXIST) continue;  // someone made it first (or planted a link): look again
      created = fd >= 0;
    }
    if (fd < 0) {
      int e = errno;
      if (e == ELOOP || e == EMLINK) {
        *err = path + " is a symbolic link: refusing to follow it (a link planted at the path could point the " +
               "region at another file); remove the link, or give the real path";
        f.close();
        return kErrSymlink;
      }
      if (e == EISDIR || e == ENXIO || e == ENODEV) {
        *err =
            path + " is not a regular file: refusing to use it as a region; give a path of a regular file (or of none)";
        f.close();
        return kErrNotFile;
      }
      *err = "cannot open " + path + ": " + std::strerror(e);
      f.close();
      return kErrBadRegion;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
      *err = "cannot stat " + path + ": " + std::strerror(errno);
      ::close(fd);
      f.close();
      return kErrBadRegion;
    }
    if (const char* code = check_stat(path, st, rules, err)) {
      ::close(fd);
      f.close();
      return code;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    // One opener at a time decides between creating, attaching, starting warm and recovering.
    if (flock(fd, readonly ? LOCK_SH : LOCK_EX) != 0) {
      *err = "cannot lock " + path + ": " + std::strerror(errno);
      ::close(fd);
      f.close();
      return kErrBadRegion;
    }
    // Under the lock: does the name still lead to this file? A reset by another opener replaces
    // it while we waited; then we start again on the new file.
    struct stat now;
    if (fstatat(f.dirfd, f.name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_dev != st.st_dev ||
        now.st_ino != st.st_ino) {
      flock(fd, LOCK_UN);
      ::close(fd);
      continue;
    }
    // Again on what we hold now (its size may have changed while we waited).
    const char* code = fstat(fd, &st) != 0 ? kErrBadRegion : check_stat(path, st, rules, err);
    if (code) {
      if (code == kErrBadRegion) *err = "cannot stat " + path + ": " + std::strerror(errno);
      flock(fd, LOCK_UN);
      ::close(fd);
      f.close();
      return code;
    }
    f.fd = fd;
    f.st = st;
    f.created = created;
    *out = f;
    return nullptr;
  }
  *err = "cannot open " + path + ": the file kept being replaced while opening it";
  f.close();
  return kErrBadRegion;
}

const char* region_file_recreate(const std::string& path, const FileRules& rules, RegionFile* f, std::string* err) {
  // Still locked: no other opener is deciding anything about this file. Unlink the name (our own
  // file, checked) and make a fresh one; openers waiting on the old file's lock see the name has
  // moved on and start again.
  if (unlinkat(f->dirfd, f->name.c_str(), 0) != 0) {
    *err = "cannot reset " + path + ": cannot remove the old file: " + std::strerror(errno);
    f->close();
    return kErrBadRegion;
  }
  int fd = create_excl(f, rules);
  if (fd < 0) {
    int e = errno;
    *err = "cannot reset " + path + ": cannot create a fresh file: " + std::strerror(e) +
           (e == EEXIST ? " (something was put at the path while resetting; nothing of it was touched)" : "");
    f->close();
    return e == EEXIST ? kErrForeign : kErrBadRegion;
  }
  struct stat st;
  // Lock first, then look: another opener may have found the new empty file and made it a region
  // before we got the lock (region.cc then attaches to that instead of writing over it).
  if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0) {
    *err = "cannot reset " + path + ": " + std::strerror(errno);
    ::close(fd);
    f->close();
    return kErrBadRegion;
  }
  // The old file's lock goes with its descriptor.
  flock(f->fd, LOCK_UN);
  ::close(f->fd);
  f->fd = fd;
  f->st = st;
  f->created = true;
  return nullptr;
}

}  // namespace shm
