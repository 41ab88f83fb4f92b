#pragma once
/// @file
/// Loading a labelled dataset from CSV (RFC 4180): a header row, numeric columns, the label column
/// chosen by name and, optionally, the feature columns too. Quoted fields (with "" for a quote and
/// line breaks inside quotes) are read; a UTF-8 byte-order mark is skipped. Every malformed row is
/// refused with its line number; nothing is silently skipped. See docs/data.md.

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
  /// Refuse records longer than this many bytes (an unterminated quote cannot swallow the file).
  std::size_t max_record_bytes = 1 << 20;
  /// The feature columns, by header name, in the order wanted. Empty: every column except the label,
  /// in file order. Columns not listed are ignored (they must still hold one field per row).
  std::vector<std::string> feature_columns;
};

namespace detail {
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

inline std::string csv_where(std::size_t line) { return "csv line " + std::to_string(line); }

/// One CSV record, possibly spanning several lines when a quoted field holds a line break.
struct csv_record {
  std::vector<std::string> fields;
  std::size_t line = 0;  ///< 1-based line on which the record starts
  bool blank = false;    ///< the line was empty or only whitespace
};

/// Reads the next record from @p in (false at end of input). @p line_no counts lines consumed.
/// @throws hefl::parse_error for an unterminated quote, text after a closing quote, a quote inside
///         an unquoted field, or a record longer than opt.max_record_bytes.
inline bool read_csv_record(std::istream& in, std::size_t& line_no, const csv_options& opt, csv_record& rec) {
  std::string line;
  if (!std::getline(in, line)) return false;
  ++line_no;
  if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // UTF-8 byte-order mark
  rec.fields.clear();
  rec.line = line_no;
  rec.blank = trim(line).empty();
  if (rec.blank) return true;
  const char d = opt.delimiter;
  std::string field;
  std::size_t i = 0;
  std::size_t bytes = line.size();
  for (;;) {
    // Start of a field: skip leading blanks to see whether it is quoted.
    std::size_t j = i;
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t') && line[j] != d) ++j;
    field.clear();
    if (j < line.size() && line[j] == '"') {
      i = j + 1;
      for (;;) {
        if (i >= line.size()) {
          // A line break inside the quotes: the record continues on the next line.
          std::string next;
          if (!std::getline(in, next))
            throw parse_error(csv_where(rec.line) + ": a quoted field is not closed before the end of the input");
          ++line_no;
          bytes += next.size() + 1;
          if (bytes > opt.max_record_bytes)
            throw parse_error(csv_where(rec.line) + ": record longer than " + std::to_string(opt.max_record_bytes) +
                              " bytes (an unclosed quote?)");
          field += '\n';
          line = std::move(next);
          i = 0;
          continue;
        }
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      if (i < line.size() && line[i] != d)
        throw parse_error(csv_where(line_no) + ": text after the closing quote of a quoted field");
      rec.fields.push_back(field);
    } else {
      const std::size_t end = line.find(d, i);
      const std::string_view raw = std::string_view(line).substr(i, end == std::string::npos ? std::string::npos : end - i);
      if (raw.find('"') != std::string_view::npos)
        throw parse_error(csv_where(line_no) + ": a quote inside an unquoted field ('" + std::string(raw) +
                          "'); quote the whole field and double the inner quotes (RFC 4180)");
      rec.fields.emplace_back(trim(raw));
      i = end == std::string::npos ? line.size() : end;
    }
    if (i >= line.size()) break;
    ++i;  // the delimiter
    if (i == line.size()) {
      rec.fields.emplace_back();  // a trailing delimiter ends with an empty field
      break;
    }
  }
  return true;
}

inline std::string column_list(const std::vector<std::string>& header) {
  std::string s;
  for (const auto& h : header) s += (s.empty() ? "'" : ", '") + h + "'";
  return std::to_string(header.size()) + (header.size() == 1 ? " column: " : " columns: ") + s;
}

/// " (is the delimiter ';'? ...)" when @p text holds a likely delimiter other than the configured one.
inline std::string delimiter_hint(std::string_view text, char delimiter) {
  for (const char c : {',', ';', '\t', '|'}) {
    if (c == delimiter || text.find(c) == std::string_view::npos) continue;
    const std::string shown = c == '\t' ? "\\t" : std::string(1, c);
    return " (is the delimiter '" + shown + "'? set csv_options::delimiter)";
  }
  return {};
}
} // namespace detail

/// Reads a dataset. Features are opt.feature_columns in that order, or every column except
/// @p label_column in file order.
/// @throws hefl::parse_error with the line number for: an empty input, a header with no data rows,
///         a missing or duplicate header name, a missing label or feature column (the message lists
///         the columns found and hints at the delimiter), a row with the wrong number of fields, a
///         field that is not a finite number, a label other than 0/1 (when required), too many
///         rows, or a quoting error.
/// @throws hefl::invalid_argument if opt.feature_columns names a column twice or names the label.
[[nodiscard]] inline dataset read_csv(std::istream& in, std::string_view label_column, const csv_options& opt = {}) {
  std::size_t line_no = 0;
  detail::csv_record rec;
  // The header: the first non-blank record.
  do {
    if (!detail::read_csv_record(in, line_no, opt, rec)) throw parse_error("csv: empty input, expected a header row");
  } while (rec.blank);
  const std::size_t header_line = rec.line;
  std::vector<std::string> header = std::move(rec.fields);
  const std::string where = detail::csv_where(header_line);
  std::set<std::string, std::less<>> names;
  std::ptrdiff_t label_index = -1;
  for (std::size_t i = 0; i < header.size(); ++i) {
    const auto& name = header[i];
    if (name.empty()) throw parse_error(where + ": column " + std::to_string(i + 1) + " has no name");
    if (!names.insert(name).second) throw parse_error(where + ": duplicate column name '" + name + "'");
    if (name == label_column) label_index = static_cast<std::ptrdiff_t>(i);
  }
  const std::string found = "; found " + detail::column_list(header) +
                            (header.size() == 1 ? detail::delimiter_hint(header[0], opt.delimiter) : std::string());
  if (label_index < 0) throw parse_error(where + ": no label column named '" + std::string(label_column) + "'" + found);

  // Which column feeds which feature.
  std::vector<std::size_t> feature_index;
  if (opt.feature_columns.empty()) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (static_cast<std::ptrdiff_t>(i) != label_index) feature_index.push_back(i);
  } else {
    std::set<std::string, std::less<>> wanted;
    for (const auto& f : opt.feature_columns) {
      if (f == label_column) throw invalid_argument("read_csv: feature column '" + f + "' is the label column");
      if (!wanted.insert(f).second) throw invalid_argument("read_csv: feature column '" + f + "' is listed twice");
      std::size_t i = 0;
      while (i < header.size() && header[i] != f) ++i;
      if (i == header.size()) throw parse_error(where + ": no feature column named '" + f + "'" + found);
      feature_index.push_back(i);
    }
  }
  if (feature_index.empty()) throw parse_error(where + ": need at least one feature column besides the label" + found);
  std::vector<std::ptrdiff_t> feature_of(header.size(), -1);
  for (std::size_t j = 0; j < feature_index.size(); ++j) feature_of[feature_index[j]] = static_cast<std::ptrdiff_t>(j);

  std::vector<double> values;
  std::vector<double> labels;
  std::vector<double> row(feature_index.size());
  while (detail::read_csv_record(in, line_no, opt, rec)) {
    if (rec.blank) continue;  // blank lines (e.g. a trailing newline) carry no sample
    const std::string at = detail::csv_where(rec.line);
    if (labels.size() >= opt.max_rows) throw parse_error(at + ": more than " + std::to_string(opt.max_rows) + " rows");
    if (rec.fields.size() != header.size()) {
      std::string joined;
      for (const auto& f : rec.fields) joined += f;
      throw parse_error(at + ": " + std::to_string(rec.fields.size()) + " fields, the header has " +
                        std::to_string(header.size()) + detail::delimiter_hint(joined, opt.delimiter));
    }
    for (std::size_t i = 0; i < rec.fields.size(); ++i) {
      const bool is_label = static_cast<std::ptrdiff_t>(i) == label_index;
      if (!is_label && feature_of[i] < 0) continue;
      const std::string_view f = detail::trim(rec.fields[i]);
      double v = 0.0;
      const auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      if (f.empty() || ec != std::errc{} || ptr != f.data() + f.size() || !std::isfinite(v))
        throw parse_error(at + ", column '" + header[i] + "': '" + std::string(f) + "' is not a finite number" +
                          detail::delimiter_hint(f, opt.delimiter));
      if (is_label) {
        if (opt.require_binary_label && v != 0.0 && v != 1.0)
          throw parse_error(at + ": label " + std::string(f) + " is not 0 or 1");
        labels.push_back(v);
      } else {
        row[static_cast<std::size_t>(feature_of[i])] = v;
      }
    }
    values.insert(values.end(), row.begin(), row.end());
  }
  if (in.bad()) throw io_error("csv: read error after line " + std::to_string(line_no));
  if (labels.empty()) throw parse_error(where + ": the header is not followed by any data row");
  const auto rows = static_cast<Eigen::Index>(labels.size());
  const auto cols = static_cast<Eigen::Index>(feature_index.size());
  dataset d{Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(values.data(), rows, cols),
            Eigen::Map<const Eigen::VectorXd>(labels.data(), rows)};
  return d;
}

/// Reads a CSV file. @throws hefl::io_error if the file cannot be opened; otherwise as read_csv.
[[nodiscard]] inline dataset load_csv(const std::string& path, std::string_view label_column, const csv_options& opt = {}) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("csv: cannot open '" + path + "'");
  return read_csv(in, label_column, opt);
}

} // namespace hefl::data
