// meta.cc — memcached's meta commands (mg, ms, md, ma, me; mn is answered in text.cc).
#include "proto/conn.h"

namespace proto {

void Conn::meta_get(Token*, size_t) { out_line("ERROR"); }
void Conn::meta_set(Token*, size_t) { out_line("ERROR"); }
void Conn::meta_set_done(const uint8_t*) {}
void Conn::meta_delete(Token*, size_t) { out_line("ERROR"); }
void Conn::meta_arith(Token*, size_t) { out_line("ERROR"); }
void Conn::meta_debug(Token*, size_t) { out_line("ERROR"); }

}  // namespace proto
