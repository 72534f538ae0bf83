// The web console's HTTP side: its static files under /ui (see src/console/web) and the chart
// history under /skiff/v1/history.
#pragma once
#include "console/history.h"
#include "http/http.h"

namespace skiff::console {

// GET /ui, /ui/, /ui/<file>: the embedded files; anything else under /ui gets index.html (the
// page routes by its URL fragment).
void serveAsset(http::Exchange& exchange);

}  // namespace skiff::console
