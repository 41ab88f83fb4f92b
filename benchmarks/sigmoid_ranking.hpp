#pragma once
// The rule sigmoid_degrees uses to name the best sigmoid approximation, and the CSV it reads the
// results from: the rows a run just wrote, or a CSV an earlier run wrote (--rank), so both give the
// same answer on the same numbers (accuracies to 4 decimals, as printed).

#include <hefl/approx/families.hpp>
#include <hefl/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace sigmoid_ranking {

/// The CSV columns, in order; the first line of every CSV sigmoid_degrees writes.
inline const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> columns{"family",     "degree",         "R",          "dataset",
                                                "fit_error",  "ckks_error",     "depth",      "products",
                                                "eval_ms",    "plain_accuracy", "encrypted_accuracy", "z_outside"};
  return columns;
}

inline std::string csv_header() {
  std::string h;
  for (const auto& c : csv_columns()) h += (h.empty() ? "" : ",") + c;
  return h;
}

/// A candidate must be a sigmoid on its own interval: a fit error above this is only as good as the
/// z range of one run (a Taylor polynomial on [-8, 8] trains well while z stays near 0).
inline constexpr double max_fit_error = 0.2;
/// Largest share of z = w·x + b outside the interval on any data set: outside it a polynomial
/// sigmoid is unbounded and the encrypted modes rely on z staying inside, so one score in a thousand
/// is the most a candidate may let out.
inline constexpr double max_z_outside = 0.001;
/// Rows whose mean accuracy is within this of the top one are ties, decided by cost (0.1 point).
inline constexpr double tie_band = 0.001;

/// A CSV that is not what sigmoid_degrees writes: the message names the line and the column.
class csv_error : public hefl::parse_error {
public:
  using hefl::parse_error::parse_error;
};

struct data_result {
  std::optional<double> plain, encrypted;  // test accuracy; empty if diverged, failed or not run
  double z_outside = 0.0;                  // share of z outside the interval in the plaintext run
};

/// One approximation with its results on every data set (in the order of results::datasets).
struct entry {
  std::string name;  // as the table prints it, e.g. "minimax-deg7[-8,8]"
  int degree = 0;
  double radius = 0.0;
  double fit_error = 0.0;
  int depth = 0;
  long products = 0;
  std::size_t line = 0;  // its first CSV line
  std::vector<data_result> data;
};

struct results {
  std::vector<std::string> datasets;
  std::vector<entry> entries;
};

namespace detail {

inline std::string fmt(double v, const char* f) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

inline std::string percent(double share) { return fmt(100.0 * share, "%.3g") + "%"; }

inline std::vector<std::string> split_line(const std::string& line) {
  std::vector<std::string> out(1);
  for (const char c : line) {
    if (c == ',') out.emplace_back();
    else out.back() += c;
  }
  return out;
}

// Reads one cell; the error names the source, the line and the column.
class cell_reader {
public:
  cell_reader(const std::string& source, std::size_t line, const std::vector<std::string>& cells)
      : m_source(source), m_line(line), m_cells(cells) {}

  const std::string& text(std::size_t column) const { return m_cells[column]; }

  [[noreturn]] void fail(std::size_t column, const std::string& what) const {
    throw csv_error(m_source + ":" + std::to_string(m_line) + ": column " + std::to_string(column + 1) + " (" +
                    csv_columns()[column] + "): " + what + ", got '" + m_cells[column] + "'");
  }

  double number(std::size_t column, double lo, double hi) const {
    const std::string& t = m_cells[column];
    char* end = nullptr;
    const double v = t.empty() ? std::nan("") : std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size() || std::isnan(v) || v < lo || v > hi)
      fail(column, "expected a number in [" + fmt(lo, "%g") + ", " + fmt(hi, "%g") + "]");
    return v;
  }

  std::optional<double> optional_number(std::size_t column, double lo, double hi) const {
    if (m_cells[column].empty()) return std::nullopt;
    return number(column, lo, hi);
  }

  // A column the rule does not use (ckks_error, eval_ms): empty or any number, nan and inf included.
  void any_number(std::size_t column) const {
    const std::string& t = m_cells[column];
    char* end = nullptr;
    if (!t.empty() && (std::strtod(t.c_str(), &end), end != t.c_str() + t.size())) fail(column, "expected a number or nothing");
  }

  long integer(std::size_t column, long lo, long hi) const {
    const double v = number(column, static_cast<double>(lo), static_cast<double>(hi));
    if (v != std::floor(v)) fail(column, "expected an integer");
    return static_cast<long>(v);
  }

private:
  const std::string& m_source;
  std::size_t m_line;
  const std::vector<std::string>& m_cells;
};

// The name the table prints: a fitted family's name, or the literature fit of that degree and interval.
inline std::string row_name(const std::string& family, int degree, double radius) {
  if (family == "fixed") {
    for (const auto& s : hefl::approx::literature_fits())
      if (s.degree() == degree && s.hi() == radius) return s.name();
  }
  return hefl::approx::detail::fit_name(family.c_str(), degree, radius);
}

} // namespace detail

/// Reads a CSV sigmoid_degrees wrote (csv_header(), then one line per approximation and data set).
/// @param source the file name for the messages.
/// @throws csv_error for a wrong header, a wrong number of columns, a cell that is not a number in
///         its range, an unknown family, an approximation missing a data set or listing one twice,
///         or one whose fit error, depth or products differ between its lines; the message names the
///         line and the column.
inline results read_csv(std::istream& in, const std::string& source) {
  results out;
  std::map<std::string, std::size_t> index;                          // name -> entry
  std::vector<std::map<std::string, std::size_t>> seen;               // per entry: data set -> line
  std::vector<std::vector<std::pair<std::string, data_result>>> got;  // per entry, in file order
  std::string line;
  std::size_t number = 0;
  const auto& columns = csv_columns();
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto cells = detail::split_line(line);
    if (number == 1) {
      for (std::size_t c = 0; c < columns.size(); ++c)
        if (c >= cells.size() || cells[c] != columns[c])
          throw csv_error(source + ":1: column " + std::to_string(c + 1) + ": the header must be '" + csv_header() +
                          "', got '" + line + "'");
      if (cells.size() != columns.size())
        throw csv_error(source + ":1: column " + std::to_string(columns.size() + 1) + ": the header must be '" +
                        csv_header() + "', got '" + line + "'");
      continue;
    }
    if (line.empty()) continue;
    if (cells.size() != columns.size())
      throw csv_error(source + ":" + std::to_string(number) + ": " + std::to_string(columns.size()) +
                      " columns expected, got " + std::to_string(cells.size()) + ": '" + line + "'");
    const detail::cell_reader r(source, number, cells);
    const std::string& family = r.text(0);
    if (family != "taylor" && family != "least-squares" && family != "weighted-least-squares" &&
        family != "chebyshev" && family != "minimax" && family != "fixed")
      r.fail(0, "expected taylor, least-squares, weighted-least-squares, chebyshev, minimax or fixed");
    const int degree = static_cast<int>(r.integer(1, 1, 31));
    const double radius = r.number(2, 1e-6, 1e6);
    const std::string& dataset = r.text(3);
    if (dataset.empty()) r.fail(3, "expected a data set name");
    const double fit_error = r.number(4, 0.0, HUGE_VAL);
    r.any_number(5);  // ckks_error
    const int depth = static_cast<int>(r.integer(6, 0, 1000));
    const long products = r.integer(7, 0, 1000000);
    r.any_number(8);  // eval_ms
    data_result d{r.optional_number(9, 0.0, 1.0), r.optional_number(10, 0.0, 1.0), r.number(11, 0.0, 1.0)};

    const std::string name = detail::row_name(family, degree, radius);
    auto [it, fresh] = index.emplace(name, out.entries.size());
    if (fresh) {
      out.entries.push_back({name, degree, radius, fit_error, depth, products, number, {}});
      seen.emplace_back();
      got.emplace_back();
    }
    const entry& e = out.entries[it->second];
    if (e.fit_error != fit_error) r.fail(4, "fit error of " + name + " differs from line " + std::to_string(e.line));
    if (e.depth != depth) r.fail(6, "depth of " + name + " differs from line " + std::to_string(e.line));
    if (e.products != products) r.fail(7, "products of " + name + " differ from line " + std::to_string(e.line));
    if (const auto [at, first] = seen[it->second].emplace(dataset, number); !first)
      r.fail(3, "a second line for " + name + " on this data set (the first is line " + std::to_string(at->second) + ")");
    if (std::find(out.datasets.begin(), out.datasets.end(), dataset) == out.datasets.end())
      out.datasets.push_back(dataset);
    got[it->second].emplace_back(dataset, d);
  }
  if (number == 0) throw csv_error(source + ":1: column 1: empty file, expected the header '" + csv_header() + "'");
  if (out.entries.empty()) throw csv_error(source + ":" + std::to_string(number + 1) + ": column 1: no data lines");
  for (std::size_t i = 0; i < out.entries.size(); ++i) {
    auto& e = out.entries[i];
    for (const auto& name : out.datasets) {
      const auto at = std::find_if(got[i].begin(), got[i].end(), [&](const auto& g) { return g.first == name; });
      if (at == got[i].end())
        throw csv_error(source + ":" + std::to_string(e.line) + ": column 4 (dataset): " + e.name +
                        " has no line for data set '" + name + "' (every approximation needs one per data set)");
      e.data.push_back(at->second);
    }
  }
  return out;
}

/// Why an entry won or lost.
struct verdict {
  const entry* e = nullptr;
  std::optional<double> mean;  // mean accuracy over the data sets in the ranking's basis
  bool eligible = false;
  std::string reason;
};

struct ranking {
  bool by_encrypted = false;  // FL + FHE accuracy, else plaintext-polynomial accuracy
  std::string basis_note;     // why that accuracy
  double z_limit = max_z_outside;
  std::string fallback;       // non-empty when no row met max_z_outside and the limit was raised
  const entry* best = nullptr;
  double top = 0.0;           // highest mean among the eligible rows
  std::vector<verdict> rows;  // every entry, by mean accuracy (highest first; none last)
};

namespace detail {

inline std::optional<double> mean(const entry& e, bool encrypted) {
  if (e.data.empty()) return std::nullopt;
  double sum = 0.0;
  for (const auto& d : e.data) {
    const auto& a = encrypted ? d.encrypted : d.plain;
    if (!a) return std::nullopt;
    sum += *a;
  }
  return sum / static_cast<double>(e.data.size());
}

inline std::size_t worst_z(const entry& e) {
  std::size_t w = 0;
  for (std::size_t d = 1; d < e.data.size(); ++d)
    if (e.data[d].z_outside > e.data[w].z_outside) w = d;
  return w;
}

} // namespace detail

/// The rule: among rows with fit error <= max_fit_error and at most max_z_outside of z outside the
/// interval on every data set, the highest mean FL + FHE accuracy over the data sets (plaintext-
/// polynomial accuracy unless every such row has FL + FHE accuracy on every data set); among the
/// rows within tie_band of it, the smallest depth, then the fewest products, then the smallest fit
/// error. z outside is measured in the plaintext run, so a row also needs a plaintext-polynomial
/// accuracy on every data set. If no row meets the z condition, the limit becomes the smallest worst
/// share any otherwise eligible row has, and ranking::fallback says so.
inline ranking rank(const results& r) {
  ranking out;
  const auto z_of = [](const entry& e) { return e.data.empty() ? 0.0 : e.data[detail::worst_z(e)].z_outside; };
  // The z limit: max_z_outside, unless no row with a small fit error and a plaintext-polynomial
  // accuracy everywhere meets it (then the smallest worst share among them).
  const auto fits = [](const entry& e) { return e.fit_error <= max_fit_error && detail::mean(e, false).has_value(); };
  bool any = false;
  double smallest_worst = 1.0;
  for (const auto& e : r.entries)
    if (fits(e)) any = true, smallest_worst = std::min(smallest_worst, z_of(e));
  if (any && smallest_worst > max_z_outside) {
    out.z_limit = smallest_worst;
    out.fallback = "no row keeps z outside its interval at or below " + detail::percent(max_z_outside) +
                   " on every data set; the limit is raised to the smallest worst share of any row, " +
                   detail::percent(smallest_worst) + ": choose a larger R";
  }
  // The basis: FL + FHE if every candidate (those rows within the z limit) has it on every data set.
  std::size_t candidates = 0, missing = 0;
  std::string example;
  for (const auto& e : r.entries) {
    if (!fits(e) || z_of(e) > out.z_limit) continue;
    ++candidates;
    if (!detail::mean(e, true)) {
      ++missing;
      if (example.empty())
        for (std::size_t d = 0; d < e.data.size() && example.empty(); ++d)
          if (!e.data[d].encrypted) example = e.name + " on " + r.datasets[d];
    }
  }
  out.by_encrypted = candidates > 0 && missing == 0;
  if (out.by_encrypted)
    out.basis_note = "every one of the " + std::to_string(candidates) + " candidates has an FL + FHE accuracy on every data set";
  else if (candidates == 0)
    out.basis_note = "no candidate (fit error, z outside and a plaintext-polynomial accuracy on every data set)";
  else
    out.basis_note = "FL + FHE accuracy missing for " + std::to_string(missing) + " of the " + std::to_string(candidates) +
                     " candidates, e.g. " + example + " (not run, or failed)";

  const char* what = out.by_encrypted ? "FL + FHE" : "plaintext-polynomial";
  out.top = -1.0;
  for (const auto& e : r.entries) {
    verdict v{&e, detail::mean(e, out.by_encrypted), false, {}};
    std::vector<std::string> why;
    if (e.fit_error > max_fit_error)
      why.push_back("fit error " + detail::fmt(e.fit_error, "%.3g") + " > " + detail::fmt(max_fit_error, "%g"));
    if (!e.data.empty() && z_of(e) > out.z_limit) {
      const std::size_t w = detail::worst_z(e);
      why.push_back(detail::percent(e.data[w].z_outside) + " of z outside [" + detail::fmt(-e.radius, "%g") + ", " +
                    detail::fmt(e.radius, "%g") + "] on " + r.datasets[w] + " > " + detail::percent(out.z_limit));
    }
    if (!v.mean)
      for (std::size_t d = 0; d < e.data.size(); ++d)
        if (!(out.by_encrypted ? e.data[d].encrypted : e.data[d].plain)) {
          why.push_back(std::string("no ") + what + " accuracy on " + r.datasets[d] + " (diverged, failed or not run)");
          break;
        }
    // z is measured in the plaintext run: without it the row cannot show that z stays inside.
    if (v.mean && out.by_encrypted && !detail::mean(e, false))
      for (std::size_t d = 0; d < e.data.size(); ++d)
        if (!e.data[d].plain) {
          why.push_back("no plaintext-polynomial accuracy on " + r.datasets[d] + ", so z outside is not measured");
          break;
        }
    v.eligible = why.empty();
    for (std::size_t i = 0; i < why.size(); ++i) v.reason += (i ? "; " : "") + why[i];
    if (v.eligible) out.top = std::max(out.top, *v.mean);
    out.rows.push_back(std::move(v));
  }
  const auto cost = [](const entry& e) { return std::tuple(e.depth, e.products, e.fit_error); };
  const auto in_band = [&](const verdict& v) { return v.eligible && *v.mean >= out.top - tie_band - 1e-9; };
  for (const auto& v : out.rows)
    if (in_band(v) && (!out.best || cost(*v.e) < cost(*out.best))) out.best = v.e;
  for (auto& v : out.rows) {
    if (!v.eligible) continue;
    if (v.e == out.best) {
      v.reason = "best";
    } else if (!in_band(v)) {
      v.reason = "mean " + detail::fmt(*v.mean, "%.4f") + " more than 0.1 point below the top " +
                 detail::fmt(out.top, "%.4f");
    } else {
      const entry& b = *out.best;
      const entry& e = *v.e;
      v.reason = "within 0.1 point of the top; ";
      if (e.depth != b.depth) v.reason += "depth " + std::to_string(e.depth) + " > " + std::to_string(b.depth);
      else if (e.products != b.products)
        v.reason += "products " + std::to_string(e.products) + " > " + std::to_string(b.products);
      else
        v.reason += "fit error " + detail::fmt(e.fit_error, "%.3g") + " >= " + detail::fmt(b.fit_error, "%.3g");
    }
  }
  std::stable_sort(out.rows.begin(), out.rows.end(), [](const verdict& a, const verdict& b) {
    if (a.mean.has_value() != b.mean.has_value()) return a.mean.has_value();
    return a.mean && *a.mean > *b.mean;
  });
  return out;
}

/// The rule in words, as printed above the ranking.
inline std::string rule_text(std::size_t datasets) {
  return "among approximations with fit error <= " + detail::fmt(max_fit_error, "%g") +
         " on their own interval [-R, R] and at most " + detail::percent(max_z_outside) +
         " of z = w·x + b outside it on every data set (measured in the plaintext run with the polynomial, which "
         "must therefore finish on every data set; outside [-R, R] a polynomial sigmoid is unbounded, and the "
         "encrypted modes rely on z staying inside), the highest mean "
         "FL + FHE accuracy over the " + std::to_string(datasets) +
         " data sets (plaintext-polynomial accuracy unless every such approximation has an FL + FHE accuracy on "
         "every data set); among those within 0.1 percentage point of it, the smallest depth, then the fewest "
         "ciphertext products, then the smallest fit error. Accuracies as printed (4 decimals). If no row meets "
         "the z condition, the limit is raised to the smallest worst share any row has, and the output says so.";
}

/// Prints the rule, the ranking table (every row, with why it won or lost), the rows that lost
/// although their mean is within 0.1 point of the top or above the winner's, and the line
/// "Best approximation: ...".
inline void print(std::ostream& out, const results& r, const ranking& k) {
  const char* what = k.by_encrypted ? "FL + FHE" : "plaintext-polynomial";
  out << "\n## Ranking\n\nRule: " << rule_text(r.datasets.size()) << "\n\nRanked by " << what << " accuracy: "
      << k.basis_note << ".\n";
  if (!k.fallback.empty()) out << "\nFallback: " << k.fallback << ".\n";
  out << "\n| approximation | mean " << what << " acc |";
  for (const auto& d : r.datasets) out << ' ' << d << " |";
  out << " fit error | depth | products | largest z outside | verdict |\n|---|---|";
  for (std::size_t i = 0; i < r.datasets.size(); ++i) out << "---|";
  out << "---|---|---|---|---|\n";
  for (const auto& v : k.rows) {
    const entry& e = *v.e;
    out << "| " << (v.e == k.best ? "**" + e.name + "**" : e.name) << " | "
        << (v.mean ? detail::fmt(*v.mean, "%.4f") : "-") << " |";
    for (const auto& d : e.data) {
      const auto& a = k.by_encrypted ? d.encrypted : d.plain;
      out << ' ' << (a ? detail::fmt(*a, "%.4f") : "-") << " |";
    }
    out << ' ' << detail::fmt(e.fit_error, "%.3g") << " | " << e.depth << " | " << e.products << " | "
        << (e.data.empty() ? "-" : detail::percent(e.data[detail::worst_z(e)].z_outside)) << " | " << v.reason
        << " |\n";
  }
  if (!k.best) {
    out << "\nBest approximation: none (no row with fit error <= " << detail::fmt(max_fit_error, "%g") << " has a "
        << what << " accuracy on every data set)\n";
    return;
  }
  const auto best = std::find_if(k.rows.begin(), k.rows.end(), [&](const verdict& v) { return v.e == k.best; });
  out << "\nRows that lost although their mean is within 0.1 point of the top or above the winner's:\n";
  bool listed = false;
  for (const auto& v : k.rows)
    if (v.e != k.best && v.mean && (*v.mean >= *best->mean || *v.mean >= k.top - tie_band - 1e-9)) {
      out << "- " << v.e->name << " (mean " << detail::fmt(*v.mean, "%.4f") << "): " << v.reason << "\n";
      listed = true;
    }
  if (!listed) out << "- none\n";
  std::size_t ties = 0;
  for (const auto& v : k.rows) ties += v.eligible && *v.mean >= k.top - tie_band - 1e-9 ? 1 : 0;
  out << "\nBest approximation: " << k.best->name << " (mean " << what << " accuracy " << detail::fmt(*best->mean, "%.4f")
      << " over the " << r.datasets.size() << " data set" << (r.datasets.size() == 1 ? "" : "s") << "; " << ties << " eligible row" << (ties == 1 ? "" : "s")
      << " within 0.1 point of the top " << detail::fmt(k.top, "%.4f") << ", and it has the smallest (depth "
      << k.best->depth << ", products " << k.best->products << ", fit error " << detail::fmt(k.best->fit_error, "%.3g")
      << ") among them" << (k.fallback.empty() ? "" : "; FALLBACK: z limit raised, see above") << ")\n";
}

} // namespace sigmoid_ranking
