// version.h — the version the protocol reports (`version`, binary VERSION): memcached's protocol
// level we answer for, then ours.
#pragma once
#define SHMCACHED_PROTO_VERSION "1.6.45-shmcached-0.1.0"
