// skiff's node image API, served beside the Kubernetes API (authenticated the same way) for
// `skiff image ...`: GET /skiff/v1/images, POST /skiff/v1/images/pull {"name"},
// POST /skiff/v1/images/import {"path","name"}, DELETE /skiff/v1/images?name=, POST
// /skiff/v1/images/prune. Kubernetes has no images API; this is the node's (crictl's) view.
#pragma once
#include <functional>
#include <set>
#include <string>

#include "http/http.h"
#include "image/image_store.h"

namespace skiff::image {

// `inUse` answers the blob digests of images running containers use (kept by prune, refused by rm).
void serveImages(ImageStore& store, http::Exchange& exchange, const std::function<std::set<std::string>()>& inUse);

}  // namespace skiff::image
