#include "image/image_api.h"

#include <boost/json.hpp>

namespace skiff::image {
namespace json = boost::json;

namespace {

json::object describe(const Image& img) {
  json::array layers;
  for (const auto& l : img.layers) layers.push_back(json::string(l));
  return json::object{{"name", img.name}, {"id", img.manifestDigest}, {"config", img.configDigest}, {"size", img.size}, {"layers", layers}};
}

http::Response answer(int status, const json::value& body) { return {status, "application/json", {}, json::serialize(body)}; }

http::Response failure(const Error& e) {
  return answer(e.code, json::object{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"}, {"message", e.message},
                                     {"reason", e.reason}, {"code", e.code}});
}

}  // namespace

void serveImages(ImageStore& store, http::Exchange& ex, const std::function<std::set<std::string>()>& inUse) {
  const auto& req = ex.request();
  boost::system::error_code ec;
  json::value body = req.body.empty() ? json::value(json::object()) : json::parse(req.body, ec);
  if (ec || !body.is_object()) return ex.respond(failure(Error::badRequest("the request body must be a JSON object")));
  auto field = [&](const char* k) {
    auto* v = body.get_object().if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  if (req.path == "/skiff/v1/images" && req.method == "GET") {
    json::array items;
    for (const auto& img : store.list()) items.push_back(describe(img));
    return ex.respond(answer(200, json::object{{"items", items}}));
  }
  if (req.path == "/skiff/v1/images/pull" && req.method == "POST") {
    auto img = store.pull(field("name"));
    if (!img) return ex.respond(failure(img.error()));
    return ex.respond(answer(200, describe(*img)));
  }
  if (req.path == "/skiff/v1/images/import" && req.method == "POST") {
    if (field("path").empty()) return ex.respond(failure(Error::badRequest("import needs the path of an archive or OCI layout on the node")));
    auto imgs = store.import(field("path"), field("name"));
    if (!imgs) return ex.respond(failure(imgs.error()));
    json::array items;
    for (const auto& img : *imgs) items.push_back(describe(img));
    return ex.respond(answer(200, json::object{{"items", items}}));
  }
  if (req.path == "/skiff/v1/images" && req.method == "DELETE") {
    std::string name = req.queryValue("name");
    auto img = store.find(name);
    if (!img) return ex.respond(failure(Error::notFound("image \"" + name + "\" is not on this node")));
    if (inUse && inUse().count(img->manifestDigest))
      return ex.respond(failure(Error::conflict("image \"" + name + "\" is in use by a running container; delete the pod first")));
    if (Status s = store.remove(name); !s) return ex.respond(failure(s.error()));
    return ex.respond(answer(200, describe(*img)));
  }
  if (req.path == "/skiff/v1/images/prune" && req.method == "POST") {
    auto r = store.prune(inUse ? inUse() : std::set<std::string>{});
    if (!r) return ex.respond(failure(r.error()));
    return ex.respond(answer(200, json::object{{"blobsRemoved", r->blobsRemoved}, {"layersRemoved", r->layersRemoved}, {"bytesFreed", r->bytesFreed}}));
  }
  ex.respond(failure(Error::notFound("no image operation " + req.method + " " + req.path)));
}

}  // namespace skiff::image
