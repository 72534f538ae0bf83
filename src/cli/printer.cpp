#include "cli/printer.h"

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::cli {
namespace json = boost::json;

std::vector<std::vector<std::string>> TablePrinter::rows(const json::value& table, bool header) {
  if (const json::value* cols = api::valueAt(table, "columnDefinitions"); cols && cols->is_array() && !cols->get_array().empty())
    columns = cols->get_array();
  std::vector<size_t> shown;
  for (size_t i = 0; i < columns.size(); ++i) {
    const json::value* p = api::valueAt(columns[i], "priority");
    int64_t priority = p && p->is_int64() ? p->get_int64() : 0;
    if (priority == 0 || wide) shown.push_back(i);
  }
  std::vector<std::vector<std::string>> out;
  if (header && !noHeaders) {
    std::vector<std::string> h;
    if (withNamespace) h.push_back("NAMESPACE");
    for (size_t i : shown) {
      std::string n = api::stringAt(columns[i], "name");
      std::transform(n.begin(), n.end(), n.begin(), ::toupper);
      h.push_back(n);
    }
    out.push_back(h);
  }
  if (const json::value* rs = api::valueAt(table, "rows"); rs && rs->is_array()) {
    for (const auto& row : rs->get_array()) {
      std::vector<std::string> line;
      if (withNamespace) line.push_back(api::stringAt(row, "object.metadata.namespace"));
      const json::value* cells = api::valueAt(row, "cells");
      for (size_t i : shown) {
        std::string cell;
        if (cells && cells->is_array() && i < cells->get_array().size()) {
          const json::value& c = cells->get_array()[i];
          cell = c.is_string() ? std::string(c.get_string()) : json::serialize(c);
        }
        line.push_back(cell);
      }
      out.push_back(line);
    }
  }
  return out;
}

std::string TablePrinter::align(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line.append(widths[i] - r[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace skiff::cli
