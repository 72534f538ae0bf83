// Renders meta.k8s.io Tables as kubectl does: upper-case headers, columns padded by three spaces.
#pragma once
#include <string>
#include <vector>

#include <boost/json/value.hpp>

namespace skiff::cli {

struct TablePrinter {
  bool wide = false;
  bool withNamespace = false;
  bool noHeaders = false;
  boost::json::array columns;  // remembered from the first Table (watch events omit them)

  // Rows of text for a Table; the header line first unless noHeaders.
  std::vector<std::vector<std::string>> rows(const boost::json::value& table, bool header);
  static std::string align(const std::vector<std::vector<std::string>>& rows);
};

}  // namespace skiff::cli
