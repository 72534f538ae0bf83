// Precompiled header for skiff_core: the heavy, stable third-party headers only.
#pragma once
#include <boost/json.hpp>
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
