// binding_crawler.h — hook from addon.cc: gives a store handle object its `crawlExpired` method.
#pragma once
#include <node_api.h>

#include "core/stats.h"

// Adds handle.crawlExpired(budget) -> [checked, reclaimed, wrapped] to the handle object. ctx,
// pkey and closed belong to the handle and outlive the function (it is a property of the handle).
void crawler_attach(napi_env env, napi_value handle_obj, shm::Ctx* ctx, int pkey, const bool* closed);
