// binding_values.h — hook from addon.cc: gives a store handle object `has` and `crawl`.
#pragma once
#include <node_api.h>

#include "core/stats.h"

// Adds handle.has(key: Uint8Array) and handle.crawl(cursor: number) to the handle object. ctx,
// pkey and closed belong to the handle and outlive its functions (they are its properties).
// Returns false (with a pending JS error) when Node-API refused a step.
bool values_attach(napi_env env, napi_value handle_obj, shm::Ctx* ctx, int pkey, const bool* closed);
