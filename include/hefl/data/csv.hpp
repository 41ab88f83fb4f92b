#pragma once
/// @file
/// Loading a labelled dataset from CSV: a header row, numeric columns, the label column chosen by
/// name. Every malformed row is refused with its line number; nothing is silently skipped.

#include <hefl/core/error.hpp>
#include <hefl/data/dataset.hpp>

#include <charconv>
#include <cmath>
#include <fstream>
#include <istream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::data {

/// Options for read_csv.
struct csv_options {
  char delimiter = ',';
  /// Refuse labels other than 0 and 1 (binary classification).
  bool require_binary_label = true;
  /// Refuse files with more data rows than this (protects memory against hostile input).
  std::size_t max_rows = 10'000'000;
};

namespace detail {
inline std::vector<std::string_view> split_csv_line(std::string_view line, char delim) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t pos = line.find(delim, start);
    out.push_back(line.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
} // namespace detail

/// Reads a dataset; every column except @p label_column becomes a feature, in file order.
/// @throws hefl::parse_error with the line number for: an empty input, a missing or duplicate
///         header name, a missing label column, a row with the wrong number of fields, a field
///         that is not a finite number, a label other than 0/1 (when required), too many rows.
[[nodiscard]] inline dataset read_csv(std::istream& in, std::string_view label_column, const csv_options& opt = {}) {
  std::string line;
  std::size_t line_no = 0;
  if (!std::getline(in, line)) throw parse_error("csv: empty input, expected a header row");
  ++line_no;
  // Owned copies: `line` is reused for the data rows.
  std::vector<std::string> header;
  for (const auto field : detail::split_csv_line(line, opt.delimiter)) header.emplace_back(detail::trim(field));
  std::set<std::string, std::less<>> names;
  std::ptrdiff_t label_index = -1;
  for (std::size_t i = 0; i < header.size(); ++i) {
    const auto& name = header[i];
    if (name.empty()) throw parse_error("csv line 1: column " + std::to_string(i + 1) + " has no name");
    if (!names.insert(name).second) throw parse_error("csv line 1: duplicate column name '" + name + "'");
    if (name == label_column) label_index = static_cast<std::ptrdiff_t>(i);
  }
  if (label_index < 0) throw parse_error("csv line 1: no label column named '" + std::string(label_column) + "'");
  if (header.size() < 2) throw parse_error("csv line 1: need at least one feature column besides the label");

  std::vector<double> values;
  std::vector<double> labels;
  while (std::getline(in, line)) {
    ++line_no;
    if (detail::trim(line).empty()) continue;  // blank lines (e.g. a trailing newline) carry no sample
    if (labels.size() >= opt.max_rows)
      throw parse_error("csv line " + std::to_string(line_no) + ": more than " + std::to_string(opt.max_rows) + " rows");
    const auto fields = detail::split_csv_line(line, opt.delimiter);
    if (fields.size() != header.size())
      throw parse_error("csv line " + std::to_string(line_no) + ": " + std::to_string(fields.size()) +
                        " fields, the header has " + std::to_string(header.size()));
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const auto f = detail::trim(fields[i]);
      double v = 0.0;
      const auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      if (f.empty() || ec != std::errc{} || ptr != f.data() + f.size() || !std::isfinite(v))
        throw parse_error("csv line " + std::to_string(line_no) + ", column '" + header[i] +
                          "': '" + std::string(f) + "' is not a finite number");
      if (static_cast<std::ptrdiff_t>(i) == label_index) {
        if (opt.require_binary_label && v != 0.0 && v != 1.0)
          throw parse_error("csv line " + std::to_string(line_no) + ": label " + std::string(f) + " is not 0 or 1");
        labels.push_back(v);
      } else {
        values.push_back(v);
      }
    }
  }
  if (in.bad()) throw io_error("csv: read error after line " + std::to_string(line_no));
  const auto rows = static_cast<Eigen::Index>(labels.size());
  const auto cols = static_cast<Eigen::Index>(header.size() - 1);
  dataset d{Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(values.data(), rows, cols),
            Eigen::Map<const Eigen::VectorXd>(labels.data(), rows)};
  return d;
}

/// Reads a CSV file. @throws hefl::io_error if the file cannot be opened; parse errors as read_csv.
[[nodiscard]] inline dataset load_csv(const std::string& path, std::string_view label_column, const csv_options& opt = {}) {
  std::ifstream in(path);
  if (!in) throw io_error("csv: cannot open '" + path + "'");
  return read_csv(in, label_column, opt);
}

} // namespace hefl::data
