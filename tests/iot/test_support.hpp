// Helpers shared by the IoT tests: a scratch directory for SQLite files and a one-field payload.
#pragma once

#include <hefl/iot/collection/rules.hpp>

#include <botan/hex.h>
#include <botan/system_rng.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace hefl_test {

/// A fresh directory under the system temp directory (random name), removed with its contents when
/// the object goes out of scope.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& prefix = "hefl_test_") {
    std::vector<std::uint8_t> r(8);
    Botan::system_rng().randomize(r.data(), r.size());
    path = std::filesystem::temp_directory_path() / (prefix + Botan::hex_encode(r, false));
    std::filesystem::create_directories(path);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  /// The path of a file named `name` inside the directory.
  [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

/// A database file path inside a fresh temp_dir; the file and its journal go with the directory.
struct temp_db {
  temp_dir dir;
  std::string path;
  explicit temp_db(const std::string& prefix = "hefl_db_") : dir(prefix), path(dir.file("test.db")) {}
};

/// A payload of one data type with one field, e.g. vital("heart_rate", "bpm", 72).
inline hefl::iot::payload vital(const std::string& type, const std::string& field, nlohmann::json value) {
  hefl::iot::payload p;
  p.type = type;
  p.fields.emplace(field, std::move(value));
  return p;
}

} // namespace hefl_test
