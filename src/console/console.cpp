#include "console/console.h"

#include "console/assets.h"

namespace skiff::console {
namespace {

std::string contentType(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

void serveAsset(http::Exchange& ex) {
  const std::string& path = ex.request().path;
  if (ex.request().method != "GET" && ex.request().method != "HEAD") {
    ex.respond({405, "text/plain", {}, "the console is read-only: GET its pages"});
    return;
  }
  if (path == "/ui") {
    ex.respond({308, "text/plain", {{"Location", "/ui/"}}, ""});
    return;
  }
  std::string name = path.substr(4);  // after "/ui/"
  if (name.empty()) name = "index.html";
  const auto& all = assets();
  auto it = all.find(name);
  if (it == all.end()) it = all.find("index.html");
  if (it == all.end()) {
    ex.respond({404, "text/plain", {}, "this skiff was built without its console"});
    return;
  }
  // The page must never be framed by another site, nor run scripts from anywhere but here.
  http::Headers headers{{"Cache-Control", "no-cache"},
                        {"X-Frame-Options", "DENY"},
                        {"Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"},
                        {"X-Content-Type-Options", "nosniff"}};
  ex.respond({200, contentType(it->first), headers, std::string(it->second)});
}

}  // namespace skiff::console
