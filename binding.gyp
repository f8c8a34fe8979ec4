{
  "targets": [
    {
      "target_name": "shmcached",
      "sources": [
        "native/binding/module.cc",
        "native/binding/open.cc",
        "native/binding/handle.cc",
        "native/binding/cache.cc",
        "native/binding/events.cc",
        "native/binding/proto.cc",
        "native/binding/crawler.cc",
        "native/binding/testonly.cc",
        "native/core/region.cc",
        "native/core/region_file.cc",
        "native/core/slabs.cc",
        "native/core/lru.cc",
        "native/core/assoc.cc",
        "native/core/store.cc",
        "native/core/stats.cc",
        "native/core/lock.cc",
        "native/core/items.cc",
        "native/core/rebalance.cc",
        "native/core/numeric.cc",
        "native/core/clock.cc",
        "native/core/events.cc",
        "native/core/recover.cc",
        "native/core/meta.cc",
        "native/core/crawler.cc",
        "native/gate/pku.cc",
        "native/proto/backend.cc",
        "native/proto/conn.cc",
        "native/proto/tokens.cc",
        "native/proto/text.cc",
        "native/proto/meta.cc",
        "native/proto/base64.cc",
        "native/proto/binary.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fvisibility=hidden"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static-libstdc++", "-static-libgcc", "-Wl,--exclude-libs,ALL"]
    }
  ]
}
