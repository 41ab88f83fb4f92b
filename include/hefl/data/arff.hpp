#pragma once
/// @file
/// Loading a labelled dataset from Weka's ARFF format (Attribute-Relation File Format, University
/// of Waikato; dense data section only): numeric attributes become features, one nominal attribute
/// is the class, and the caller says which class value is positive (label 1; every other value is
/// label 0). Comments (lines starting with %), quoted names and case-insensitive keywords are
/// read. Anything else (string, date or relational attributes, other nominal attributes, sparse
/// rows, instance weights) is refused with its line number, as are malformed rows and, unless a
/// policy says otherwise, missing values ('?'). See docs/data.md.

#include <hefl/core/error.hpp>
#include <hefl/data/dataset.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::data {

/// What to do with a row holding a missing value ('?').
enum class arff_missing {
  refuse,    ///< throw hefl::parse_error naming the line (the default: imputing is the caller's choice)
  drop_row,  ///< skip the row; arff_info::dropped_rows counts them
};

/// Options for read_arff.
struct arff_options {
  /// The class value that becomes label 1. Required: read_arff lists the values when it is empty.
  std::string positive_class;
  /// The nominal class attribute, by name; empty: the last attribute.
  std::string class_attribute;
  arff_missing missing = arff_missing::refuse;
  /// Refuse files with more data rows than this (protects memory against hostile input).
  std::size_t max_rows = 10'000'000;
};

/// What the header said, next to the data.
struct arff_info {
  std::string relation;
  std::vector<std::string> feature_names;  ///< in column order of dataset::x
  std::string class_attribute;
  std::vector<std::string> class_values;   ///< as declared
  std::size_t dropped_rows = 0;            ///< rows skipped under arff_missing::drop_row
};

/// A dataset with its header.
struct arff_dataset {
  dataset data;
  arff_info info;
};

namespace detail {
inline std::string arff_where(std::size_t line) { return "arff line " + std::to_string(line); }

inline std::string_view arff_trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

inline std::string arff_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Reads a name or value at the start of @p s (quoted with ' or ", with backslash escapes, or up to
/// whitespace / one of @p stops) and removes it from @p s.
/// @throws hefl::parse_error on an unterminated quote or an empty token.
inline std::string arff_token(std::string_view& s, std::string_view stops, std::size_t line) {
  s = arff_trim(s);
  if (s.empty()) throw parse_error(arff_where(line) + ": expected a name or value, found the end of the line");
  std::string out;
  if (s.front() == '\'' || s.front() == '"') {
    const char q = s.front();
    std::size_t i = 1;
    for (;; ++i) {
      if (i >= s.size()) throw parse_error(arff_where(line) + ": unterminated quote " + std::string(1, q));
      if (s[i] == '\\' && i + 1 < s.size()) {
        out += s[++i];
        continue;
      }
      if (s[i] == q) break;
      out += s[i];
    }
    s.remove_prefix(i + 1);
    return out;
  }
  std::size_t i = 0;
  while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && stops.find(s[i]) == std::string_view::npos) ++i;
  out = std::string(s.substr(0, i));
  s.remove_prefix(i);
  if (out.empty()) throw parse_error(arff_where(line) + ": expected a name or value before '" + std::string(s.substr(0, 1)) + "'");
  return out;
}

struct arff_attribute {
  std::string name;
  bool nominal = false;
  std::vector<std::string> values;  // nominal only
  std::size_t line = 0;
};

/// Parses the part of an @attribute line after the keyword.
inline arff_attribute parse_arff_attribute(std::string_view rest, std::size_t line) {
  arff_attribute a;
  a.line = line;
  a.name = arff_token(rest, "{", line);
  rest = arff_trim(rest);
  if (rest.empty()) throw parse_error(arff_where(line) + ": attribute '" + a.name + "' has no type");
  if (rest.front() == '{') {
    const std::size_t close = rest.rfind('}');
    if (close == std::string_view::npos)
      throw parse_error(arff_where(line) + ": nominal attribute '" + a.name + "' has no closing '}'");
    if (!arff_trim(rest.substr(close + 1)).empty())
      throw parse_error(arff_where(line) + ": text after the '}' of attribute '" + a.name + "'");
    std::string_view list = rest.substr(1, close - 1);
    a.nominal = true;
    while (!arff_trim(list).empty()) {
      a.values.push_back(arff_token(list, ",}", line));
      list = arff_trim(list);
      if (!list.empty()) {
        if (list.front() != ',') throw parse_error(arff_where(line) + ": expected ',' between nominal values of '" + a.name + "'");
        list.remove_prefix(1);
        if (arff_trim(list).empty()) throw parse_error(arff_where(line) + ": empty nominal value in '" + a.name + "'");
      }
    }
    if (a.values.empty()) throw parse_error(arff_where(line) + ": nominal attribute '" + a.name + "' declares no values");
    for (std::size_t i = 0; i < a.values.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (a.values[i] == a.values[j])
          throw parse_error(arff_where(line) + ": nominal attribute '" + a.name + "' declares '" + a.values[i] + "' twice");
    return a;
  }
  const std::string type = arff_lower(arff_token(rest, "", line));
  if (type != "numeric" && type != "real" && type != "integer")
    throw parse_error(arff_where(line) + ": attribute '" + a.name + "' has type '" + type +
                      "'; only numeric, real, integer and one nominal class are supported");
  if (!arff_trim(rest).empty()) throw parse_error(arff_where(line) + ": text after the type of attribute '" + a.name + "'");
  return a;
}

/// Splits a dense data row into values (quoted values allowed).
inline std::vector<std::string> split_arff_row(std::string_view row, std::size_t line) {
  std::vector<std::string> out;
  for (;;) {
    out.push_back(arff_token(row, ",", line));
    row = arff_trim(row);
    if (row.empty()) return out;
    if (row.front() != ',') throw parse_error(arff_where(line) + ": expected ',' after value '" + out.back() + "'");
    row.remove_prefix(1);
    if (arff_trim(row).empty()) throw parse_error(arff_where(line) + ": the row ends with ','");
  }
}

inline std::string value_list(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "{" : ", ") + x;
  return s + "}";
}
} // namespace detail

/// Reads an ARFF stream.
/// @throws hefl::parse_error with the line number for: a missing @relation, @attribute or @data
///         section, an unsupported attribute type, a nominal attribute other than the class, a
///         class attribute that is not nominal or not found, a positive class that is not declared,
///         no positive class given (the message lists the class values), a duplicate attribute name,
///         a row with the wrong number of values, a value that is not a finite number, a class value
///         not declared, a missing value under arff_missing::refuse, a sparse row or instance weight,
///         no data rows, or more than opt.max_rows rows.
[[nodiscard]] inline arff_dataset read_arff(std::istream& in, const arff_options& opt) {
  using namespace detail;
  std::string line;
  std::size_t line_no = 0;
  arff_info info;
  bool have_relation = false, in_data = false;
  std::vector<arff_attribute> attrs;
  std::ptrdiff_t class_index = -1;
  std::ptrdiff_t positive_index = -1;
  std::vector<double> values, labels;
  std::size_t data_line = 0;

  while (std::getline(in, line)) {
    ++line_no;
    std::string_view s = arff_trim(line);
    if (line_no == 1 && s.starts_with("\xEF\xBB\xBF")) s = arff_trim(s.substr(3));
    if (s.empty() || s.front() == '%') continue;
    if (!in_data) {
      if (s.front() != '@') throw parse_error(arff_where(line_no) + ": expected @relation, @attribute or @data");
      std::string_view rest = s.substr(1);
      std::size_t k = 0;
      while (k < rest.size() && std::isalpha(static_cast<unsigned char>(rest[k]))) ++k;
      const std::string keyword = arff_lower(rest.substr(0, k));
      rest.remove_prefix(k);
      if (keyword == "relation") {
        if (have_relation) throw parse_error(arff_where(line_no) + ": a second @relation");
        info.relation = arff_token(rest, "", line_no);
        have_relation = true;
      } else if (keyword == "attribute") {
        if (!have_relation) throw parse_error(arff_where(line_no) + ": @attribute before @relation");
        auto a = parse_arff_attribute(rest, line_no);
        for (const auto& b : attrs)
          if (b.name == a.name) throw parse_error(arff_where(line_no) + ": duplicate attribute name '" + a.name + "'");
        attrs.push_back(std::move(a));
      } else if (keyword == "data") {
        if (attrs.empty()) throw parse_error(arff_where(line_no) + ": @data before any @attribute");
        if (!arff_trim(rest).empty()) throw parse_error(arff_where(line_no) + ": text after @data");
        // Resolve the class attribute and check the rest are numeric.
        const std::string class_name = opt.class_attribute.empty() ? attrs.back().name : opt.class_attribute;
        for (std::size_t i = 0; i < attrs.size(); ++i)
          if (attrs[i].name == class_name) class_index = static_cast<std::ptrdiff_t>(i);
        if (class_index < 0) {
          std::string names;
          for (const auto& a : attrs) names += (names.empty() ? "'" : ", '") + a.name + "'";
          throw parse_error(arff_where(line_no) + ": no class attribute named '" + class_name + "'; attributes: " + names);
        }
        const auto& cls = attrs[static_cast<std::size_t>(class_index)];
        if (!cls.nominal)
          throw parse_error(arff_where(cls.line) + ": class attribute '" + cls.name + "' is numeric; it must be nominal");
        for (const auto& a : attrs)
          if (a.nominal && a.name != cls.name)
            throw parse_error(arff_where(a.line) + ": nominal attribute '" + a.name +
                              "' is not the class; only numeric features are supported");
        if (opt.positive_class.empty())
          throw parse_error("arff: choose the positive class (arff_options::positive_class) among " + value_list(cls.values) +
                            " of '" + cls.name + "'");
        for (std::size_t v = 0; v < cls.values.size(); ++v)
          if (cls.values[v] == opt.positive_class) positive_index = static_cast<std::ptrdiff_t>(v);
        if (positive_index < 0)
          throw parse_error(arff_where(cls.line) + ": positive class '" + opt.positive_class + "' is not one of " +
                            value_list(cls.values) + " of '" + cls.name + "'");
        if (attrs.size() < 2) throw parse_error(arff_where(line_no) + ": no feature attribute besides the class");
        info.class_attribute = cls.name;
        info.class_values = cls.values;
        for (const auto& a : attrs)
          if (a.name != cls.name) info.feature_names.push_back(a.name);
        in_data = true;
        data_line = line_no;
      } else {
        throw parse_error(arff_where(line_no) + ": unknown keyword '@" + keyword + "'");
      }
      continue;
    }
    // A data row.
    if (s.front() == '{') throw parse_error(arff_where(line_no) + ": sparse rows are not supported");
    if (s.front() == '@') throw parse_error(arff_where(line_no) + ": '" + std::string(s.substr(0, 12)) + "' after @data");
    if (s.back() == '}') throw parse_error(arff_where(line_no) + ": instance weights are not supported");
    if (labels.size() >= opt.max_rows)
      throw parse_error(arff_where(line_no) + ": more than " + std::to_string(opt.max_rows) + " rows");
    const auto fields = split_arff_row(s, line_no);
    if (fields.size() != attrs.size())
      throw parse_error(arff_where(line_no) + ": " + std::to_string(fields.size()) + " values, " +
                        std::to_string(attrs.size()) + " attributes declared");
    bool missing = false;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (fields[i] == "?") {
        if (opt.missing == arff_missing::refuse)
          throw parse_error(arff_where(line_no) + ": missing value '?' for '" + attrs[i].name +
                            "' (arff_options::missing = drop_row skips such rows)");
        missing = true;
      }
    }
    if (missing) {
      ++info.dropped_rows;
      continue;
    }
    double label = 0.0;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (static_cast<std::ptrdiff_t>(i) == class_index) {
        const auto& vals = attrs[i].values;
        const auto it = std::find(vals.begin(), vals.end(), fields[i]);
        if (it == vals.end())
          throw parse_error(arff_where(line_no) + ": class value '" + fields[i] + "' is not one of " + value_list(vals));
        label = (it - vals.begin()) == positive_index ? 1.0 : 0.0;
        continue;
      }
      const std::string& f = fields[i];
      double v = 0.0;
      const auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      if (ec != std::errc{} || ptr != f.data() + f.size() || !std::isfinite(v))
        throw parse_error(arff_where(line_no) + ", attribute '" + attrs[i].name + "': '" + f + "' is not a finite number");
      values.push_back(v);
    }
    labels.push_back(label);
  }
  if (in.bad()) throw io_error("arff: read error after line " + std::to_string(line_no));
  if (!have_relation) throw parse_error("arff: no @relation line (is this an ARFF file?)");
  if (!in_data) throw parse_error("arff: no @data section after " + std::to_string(line_no) + " lines");
  if (labels.empty() && info.dropped_rows == 0)
    throw parse_error(arff_where(data_line) + ": @data is not followed by any data row");
  if (labels.empty()) throw parse_error("arff: every one of " + std::to_string(info.dropped_rows) + " rows has a missing value");
  const auto rows = static_cast<Eigen::Index>(labels.size());
  const auto cols = static_cast<Eigen::Index>(attrs.size() - 1);
  arff_dataset out;
  out.data = dataset{Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(values.data(), rows, cols),
                     Eigen::Map<const Eigen::VectorXd>(labels.data(), rows)};
  out.info = std::move(info);
  return out;
}

/// Reads an ARFF file. @throws hefl::io_error if it cannot be opened; otherwise as read_arff.
[[nodiscard]] inline arff_dataset load_arff(const std::string& path, const arff_options& opt) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("arff: cannot open '" + path + "'");
  return read_arff(in, opt);
}

} // namespace hefl::data
