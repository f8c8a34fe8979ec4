// binary.cc — memcached's binary protocol.
#include "proto/conn.h"

namespace proto {

bool Conn::binary_step() {
  closing_ = true;
  return false;
}

}  // namespace proto
