// proto_binding.h — hook from addon.cc: gives a store handle object its `protoConn` method.
#pragma once
#include <node_api.h>

#include "core/stats.h"

// Adds handle.protoConn(state: Int32Array) to the handle object. ctx, pkey and closed belong to
// the handle and outlive every connection made from it (each connection references the object).
void proto_attach(napi_env env, napi_value handle_obj, shm::Ctx* ctx, int pkey, const bool* closed);
