// serverinfo.cc — see serverinfo.h.
#include "proto/serverinfo.h"

namespace proto {

void stats_overlay(shm::StatList& l, const shm::StatList& over) {
  for (const auto& kv : over) {
    bool found = false;
    for (auto& e : l) {
      if (e.first == kv.first) {
        e.second = kv.second;
        found = true;
        break;
      }
    }
    if (!found) l.push_back(kv);
  }
}

}  // namespace proto
