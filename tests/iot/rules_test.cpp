#include <hefl/iot/collection/rules.hpp>

#include <catch2/catch.hpp>

#include <type_traits>

#include <botan/auto_rng.h>
#include <botan/x509self.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <string>
#include <vector>

using namespace hefl::iot;
using nlohmann::json;
using namespace std::chrono_literals;

// A verdict is made only by accepted() or rejected(): none is "ok" by default.
static_assert(!std::is_default_constructible_v<rule_verdict>);

namespace {

Botan::AutoSeeded_RNG& test_rng() {
  static Botan::AutoSeeded_RNG rng;
  return rng;
}

/// A self-signed ECDSA P-256 certificate and its key, standing in for a CA-issued admin certificate.
struct identity {
  key_pair keys;
  Botan::X509_Certificate cert;
};

identity make_identity(const std::string& name) {
  identity id{ecdsa_p256_signing::generate(test_rng()), {}};
  Botan::X509_Cert_Options opts;
  opts.common_name = name;
  opts.organization = "hefl test hospital";
  id.cert = Botan::X509::create_self_signed_cert(opts, *id.keys.private_key, "SHA-256", test_rng());
  return id;
}

const identity& admin() {
  static const identity id = make_identity("admin");
  return id;
}
const identity& nurse() {
  static const identity id = make_identity("nurse");
  return id;
}

bool is_admin(const Botan::X509_Certificate& c) { return c == admin().cert; }

json example() { return json::parse(vital_signs_example_contract); }

std::string with_version(std::uint64_t v) {
  auto j = example();
  j["version"] = v;
  return j.dump();
}

payload make(std::string type, std::map<std::string, json, std::less<>> fields) {
  return payload{std::move(type), std::move(fields)};
}

constexpr std::uint32_t vital_signs = 1;

const auto t0 = iot_clock::time_point{} + std::chrono::hours(24 * 365 * 50);

struct recorder {
  std::vector<deployment_event> events;
  auto observer() {
    return [this](const deployment_event& e) { events.push_back(e); };
  }
};

/// A manager with the example contract installed, and fresh device ids per check so the rate does not interfere.
struct fixture {
  recorder rec;
  rule_manager<> rules{is_admin, rec.observer()};
  int next_device = 0;
  fixture() {
    const auto e = rules.deploy(sign_deployment(vital_signs_example_contract, *admin().keys.private_key, admin().cert,
                                                test_rng()));
    REQUIRE(e.accepted());
  }
  rule_verdict check(const payload& p) {
    return rules.check(vital_signs, "device-" + std::to_string(next_device++), p, t0);
  }
};

} // namespace

// ---------------------------------------------------------------------------------------------------
// Contract parsing

TEST_CASE("the vital-signs example contract parses and round-trips", "[iot][rules]") {
  const auto c = rule_contract::parse(vital_signs_example_contract);
  CHECK(c.group_id == 1);
  CHECK(c.name == "vital-signs");
  CHECK(c.label() == "group 1 (vital-signs)");
  CHECK(c.version == 1);
  CHECK(c.max_payload_bytes == 256);
  CHECK(c.max_messages_per_minute == 60);
  REQUIRE(c.data_types.size() == 4);
  const auto& bpm = c.data_types.at("heart_rate").fields.at("bpm");
  CHECK(bpm.type == field_type::integer);
  CHECK(bpm.unit == "bpm");
  CHECK(bpm.int_min == 20);
  CHECK(bpm.int_max == 250);
  CHECK(bpm.required);
  const auto& celsius = c.data_types.at("temperature").fields.at("celsius");
  CHECK(celsius.type == field_type::number);
  CHECK(celsius.unit == "°C");
  CHECK(celsius.min == 30.0);
  CHECK(celsius.max == 45.0);
  const auto& site = c.data_types.at("temperature").fields.at("site");
  CHECK(site.type == field_type::string);
  CHECK_FALSE(site.required);
  CHECK(site.max_length == std::optional<std::size_t>(16));
  CHECK(c.data_types.at("blood_pressure").fields.at("irregular_heartbeat").type == field_type::boolean);
  CHECK(c.data_types.at("spo2").fields.at("saturation").unit == "%");

  CHECK(rule_contract::parse(c.to_json().dump()) == c);
  CHECK(rule_contract::from_json(c.to_json()) == c);
}

TEST_CASE("the contract parser refuses every malformed contract, naming the JSON path", "[iot][rules]") {
  struct bad_case {
    const char* name;
    std::function<void(json&)> mutate;
    const char* expected;
  };
  const std::vector<bad_case> cases = {
      {"root not an object", [](json& j) { j = json::array(); }, "at (root): expected an object, got array"},
      {"unknown top-level key", [](json& j) { j["owner"] = "x"; }, "at /owner: unknown key 'owner'"},
      {"missing group_id", [](json& j) { j.erase("group_id"); }, "at (root): missing required key 'group_id'"},
      {"group_id a string", [](json& j) { j["group_id"] = "7"; }, "at /group_id: expected an integer, got string"},
      {"negative group_id", [](json& j) { j["group_id"] = -1; }, "at /group_id: expected an integer in [0, 4294967295], got -1"},
      {"group_id above 32 bits", [](json& j) { j["group_id"] = 4294967296; }, "at /group_id: expected an integer in [0, 4294967295], got 4294967296"},
      {"name not a string", [](json& j) { j["name"] = 1; }, "at /name: expected a string, got integer"},
      {"bad name", [](json& j) { j["name"] = "vital signs"; }, "at /name: name must be 1..64 characters"},
      {"missing version", [](json& j) { j.erase("version"); }, "missing required key 'version'"},
      {"version zero", [](json& j) { j["version"] = 0; }, "at /version: expected an integer in [1, "},
      {"negative version", [](json& j) { j["version"] = -3; }, "at /version: expected an integer in [1, "},
      {"version as float", [](json& j) { j["version"] = 2.0; }, "at /version: expected an integer, got number"},
      {"version as string", [](json& j) { j["version"] = "2"; }, "at /version: expected an integer, got string"},
      {"huge version", [](json& j) { j["version"] = std::uint64_t{1} << 63; }, "at /version: expected an integer in"},
      {"payload limit zero", [](json& j) { j["max_payload_bytes"] = 0; }, "at /max_payload_bytes: expected an integer in [1, 1048576], got 0"},
      {"payload limit too big", [](json& j) { j["max_payload_bytes"] = 1 << 21; }, "at /max_payload_bytes"},
      {"missing payload limit", [](json& j) { j.erase("max_payload_bytes"); }, "missing required key 'max_payload_bytes'"},
      {"rate zero", [](json& j) { j["max_messages_per_minute"] = 0; }, "at /max_messages_per_minute: expected an integer in [1, 60000], got 0"},
      {"rate too high", [](json& j) { j["max_messages_per_minute"] = 60001; }, "at /max_messages_per_minute"},
      {"missing rate", [](json& j) { j.erase("max_messages_per_minute"); }, "missing required key 'max_messages_per_minute'"},
      {"missing data_types", [](json& j) { j.erase("data_types"); }, "missing required key 'data_types'"},
      {"data_types an array", [](json& j) { j["data_types"] = json::array(); }, "at /data_types: expected an object, got array"},
      {"no data types", [](json& j) { j["data_types"] = json::object(); }, "at /data_types: expected at least one data type"},
      {"bad data type name", [](json& j) { j["data_types"]["heart rate"] = j["data_types"]["heart_rate"]; },
       "at /data_types/heart rate: data type name must be"},
      {"unknown key in data type", [](json& j) { j["data_types"]["spo2"]["alarm"] = true; },
       "at /data_types/spo2/alarm: unknown key 'alarm', expected one of: fields"},
      {"data type without fields", [](json& j) { j["data_types"]["spo2"].erase("fields"); },
       "at /data_types/spo2: missing required key 'fields'"},
      {"data type with no field", [](json& j) { j["data_types"]["spo2"]["fields"] = json::object(); },
       "at /data_types/spo2/fields: expected at least one field"},
      {"field not an object", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"] = 5; },
       "at /data_types/spo2/fields/saturation: expected an object, got integer"},
      {"bad field name", [](json& j) { j["data_types"]["spo2"]["fields"]["a/b"] = j["data_types"]["spo2"]["fields"]["saturation"]; },
       "at /data_types/spo2/fields/a~1b: field name must be"},
      {"field without type", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"].erase("type"); },
       "at /data_types/spo2/fields/saturation: missing required key 'type'"},
      {"unknown field type", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"]["type"] = "float"; },
       "at /data_types/spo2/fields/saturation/type: expected one of number, integer, string, bool, got 'float'"},
      {"field without required", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"].erase("required"); },
       "at /data_types/spo2/fields/saturation: missing required key 'required'"},
      {"required not a bool", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"]["required"] = 1; },
       "at /data_types/spo2/fields/saturation/required: expected a bool, got integer"},
      {"unit not a string", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"]["unit"] = 1; },
       "at /data_types/spo2/fields/saturation/unit: expected a string, got integer"},
      {"unknown key in field", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"]["precision"] = 2; },
       "at /data_types/spo2/fields/saturation/precision: unknown key 'precision'"},
      {"number without min", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"].erase("min"); },
       "at /data_types/spo2/fields/saturation: missing required key 'min'"},
      {"number without max", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"].erase("max"); },
       "at /data_types/spo2/fields/saturation: missing required key 'max'"},
      {"number min > max", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"]["min"] = 100.5; },
       "at /data_types/spo2/fields/saturation: min 100.5 > max 100"},
      {"number min a string", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"]["min"] = "50"; },
       "at /data_types/spo2/fields/saturation/min: expected a number, got string"},
      {"integer min > max", [](json& j) { j["data_types"]["heart_rate"]["fields"]["bpm"]["max"] = 10; },
       "at /data_types/heart_rate/fields/bpm: min 20 > max 10"},
      {"integer bound a float", [](json& j) { j["data_types"]["heart_rate"]["fields"]["bpm"]["min"] = 20.5; },
       "at /data_types/heart_rate/fields/bpm/min: expected an integer, got number"},
      {"min on a string field", [](json& j) { j["data_types"]["temperature"]["fields"]["site"]["min"] = 1; },
       "at /data_types/temperature/fields/site/min: min and max apply to number and integer fields, not string"},
      {"max on a bool field", [](json& j) { j["data_types"]["blood_pressure"]["fields"]["irregular_heartbeat"]["max"] = 1; },
       "at /data_types/blood_pressure/fields/irregular_heartbeat/max: min and max apply"},
      {"max_length on a number", [](json& j) { j["data_types"]["spo2"]["fields"]["saturation"]["max_length"] = 3; },
       "at /data_types/spo2/fields/saturation/max_length: max_length applies to string fields, not number"},
      {"negative max_length", [](json& j) { j["data_types"]["temperature"]["fields"]["site"]["max_length"] = -1; },
       "at /data_types/temperature/fields/site/max_length: expected an integer in [0, 1048576], got -1"},
  };
  for (const auto& c : cases) {
    auto j = example();
    c.mutate(j);
    INFO(c.name);
    CHECK_THROWS_AS(rule_contract::parse(j.dump()), hefl::parse_error);
    CHECK_THROWS_WITH(rule_contract::parse(j.dump()), Catch::Contains(c.expected));
  }
}

TEST_CASE("the contract parser refuses bad JSON text", "[iot][rules]") {
  CHECK_THROWS_WITH(rule_contract::parse(""), Catch::Contains("rule contract: not valid JSON"));
  CHECK_THROWS_WITH(rule_contract::parse("{\"group_id\": "), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(rule_contract::parse("{} {}"), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(rule_contract::parse("{\"group_id\": \"a\xff\"}"), Catch::Contains("not valid JSON"));
  // The same key twice: a signer and a checker could read different values.
  const std::string dup = R"({"group_id": 1, "group_id": 2, "version": 1})";
  CHECK_THROWS_WITH(rule_contract::parse(dup), Catch::Contains("duplicate key 'group_id'"));
  // Deep nesting is refused before it can cost anything.
  const std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK_THROWS_WITH(rule_contract::parse(deep), Catch::Contains("nested deeper than 8 levels"));
  CHECK_THROWS_WITH(rule_contract::parse(std::string(rule_contract::max_text_bytes + 1, ' ')),
                    Catch::Contains("expected at most 1048576 bytes of JSON"));
  // A number too large for a double is not a finite bound.
  auto j = example().dump();
  const auto pos = j.find("\"max\":100");
  REQUIRE(pos != std::string::npos);
  j.replace(pos, 9, "\"max\":1e400");
  CHECK_THROWS_AS(rule_contract::parse(j), hefl::parse_error);
}

// ---------------------------------------------------------------------------------------------------
// Payloads

TEST_CASE("payload canonical bytes are unique, sized and decodable", "[iot][rules][payload]") {
  const auto p = make("temperature", {{"celsius", 37.2}, {"site", "oral"}, {"ok", true}, {"n", -5}});
  const auto bytes = p.canonical_bytes();
  CHECK(p.canonical_size() == bytes.size());
  CHECK(payload::decode(bytes) == p);
  CHECK(payload::decode(bytes).canonical_bytes() == bytes);
  CHECK(std::string(bytes.begin(), bytes.begin() + 4) == "HPL1");

  // Insertion order does not matter; an unsigned and a signed 72 encode alike; 72.0 does not.
  auto q = make("heart_rate", {});
  q.fields.emplace("bpm", json::parse("72"));  // parsed as unsigned
  const auto r = make("heart_rate", {{"bpm", std::int64_t{72}}});
  CHECK(q.canonical_bytes() == r.canonical_bytes());
  CHECK(make("heart_rate", {{"bpm", 72.0}}).canonical_bytes() != r.canonical_bytes());
  const auto big = make("x", {{"v", std::uint64_t{1} << 63}});
  CHECK(payload::decode(big.canonical_bytes()) == big);

  // JSON form round-trips.
  CHECK(payload::from_json(p.to_json()) == p);
  CHECK(payload::from_json(json::parse(R"({"type":"spo2","fields":{"saturation":97.5}})")) ==
        make("spo2", {{"saturation", 97.5}}));
}

TEST_CASE("payload encoding refuses values that are not scalars", "[iot][rules][payload]") {
  const auto p = make("x", {{"a", json::array({1, 2})}});
  CHECK_THROWS_WITH(p.canonical_bytes(), Catch::Contains("payload field 'a': expected a number, integer, string or bool, got array"));
  std::string bad;
  CHECK_FALSE(p.canonical_size(&bad).has_value());
  CHECK(bad == "a");
  CHECK_THROWS_AS(make("x", {{"n", nullptr}}).canonical_bytes(), hefl::invalid_argument);
  CHECK_THROWS_AS(make("x", {{"n", std::numeric_limits<double>::infinity()}}).canonical_bytes(), hefl::invalid_argument);
  CHECK_THROWS_WITH(payload::from_json(json::parse(R"({"type":"x","fields":{"a":{"b":1}}})")),
                    Catch::Contains("payload: at /fields/a: expected a number, integer, string or bool, got object"));
  CHECK_THROWS_WITH(payload::from_json(json::parse(R"({"type":"x"})")),
                    Catch::Contains("payload: at (root): missing required key 'fields'"));
  CHECK_THROWS_WITH(payload::from_json(json::parse(R"({"type":1,"fields":{}})")),
                    Catch::Contains("payload: at /type: expected a string, got integer"));
  CHECK_THROWS_WITH(payload::from_json(json::parse(R"({"type":"x","fields":{},"nonce":1})")),
                    Catch::Contains("payload: at /nonce: unknown key 'nonce'"));
  CHECK_THROWS_WITH(payload::from_json(json::parse(R"({"type":"x","fields":[]})")),
                    Catch::Contains("payload: at /fields: expected an object, got array"));
}

TEST_CASE("payload decoding refuses every non-canonical or damaged encoding", "[iot][rules][payload]") {
  const auto p = make("blood_pressure", {{"diastolic", 80}, {"systolic", 120}, {"irregular_heartbeat", false}});
  const auto bytes = p.canonical_bytes();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK_THROWS_AS(payload::decode(std::span(bytes).first(n)), hefl::parse_error);
  }
  auto extra = bytes;
  extra.push_back(0);
  CHECK_THROWS_WITH(payload::decode(extra), Catch::Contains("1 trailing bytes"));
  auto bad_magic = bytes;
  bad_magic[0] = 'X';
  CHECK_THROWS_WITH(payload::decode(bad_magic), Catch::Contains("bad magic"));

  // Hand-built encodings: type "t", then the given fields.
  const auto build = [](std::uint32_t count, const std::vector<std::uint8_t>& body) {
    hefl::serial::writer w;
    w.put_bytes("HPL1");
    w.put<std::uint32_t>(1);
    w.put_bytes("t");
    w.put<std::uint32_t>(count);
    auto out = std::move(w).take();
    out.insert(out.end(), body.begin(), body.end());
    return out;
  };
  const auto field = [](std::string_view name, std::uint8_t tag, const std::vector<std::uint8_t>& value) {
    hefl::serial::writer w;
    w.put(static_cast<std::uint32_t>(name.size()));
    w.put_bytes(name);
    w.put(tag);
    w.put_span(std::span<const std::uint8_t>(value));
    return std::move(w).take();
  };
  const std::vector<std::uint8_t> one_bool = {1};
  auto concat = [](std::vector<std::uint8_t> a, const std::vector<std::uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  CHECK(payload::decode(build(1, field("a", 'b', one_bool))) == make("t", {{"a", true}}));
  CHECK_THROWS_WITH(payload::decode(build(2, concat(field("b", 'b', one_bool), field("a", 'b', one_bool)))),
                    Catch::Contains("field 'a' is out of order or duplicated"));
  CHECK_THROWS_WITH(payload::decode(build(2, concat(field("a", 'b', one_bool), field("a", 'b', one_bool)))),
                    Catch::Contains("out of order or duplicated"));
  CHECK_THROWS_WITH(payload::decode(build(1, field("a", 'b', {2}))), Catch::Contains("bool byte must be 0 or 1, got 2"));
  CHECK_THROWS_WITH(payload::decode(build(1, field("a", 'z', {0}))), Catch::Contains("unknown tag 0x7a"));
  CHECK_THROWS_WITH(payload::decode(build(1, field("a", 'u', {5, 0, 0, 0, 0, 0, 0, 0}))),
                    Catch::Contains("unsigned tag for 5"));
  CHECK_THROWS_WITH(payload::decode(build(1, field("a", 'f', {0, 0, 0, 0, 0, 0, 0xf0, 0x7f}))),
                    Catch::Contains("not finite"));
  CHECK_THROWS_WITH(payload::decode(build(0xffffffffu, {})), Catch::Contains("4294967295 fields declared"));
  CHECK_THROWS_WITH(payload::decode(build(1, {0xff, 0xff, 0xff, 0x7f, 'a', 'b'})), Catch::Contains("2147483647 elements declared but only 2 bytes remain"));
}

// ---------------------------------------------------------------------------------------------------
// Rule checks: every verdict

TEST_CASE("honest vital-signs payloads are accepted", "[iot][rules][check]") {
  fixture f;
  CHECK(f.check(make("heart_rate", {{"bpm", 72}})).ok());
  CHECK(f.check(make("heart_rate", {{"bpm", 20}})).ok());   // bounds are inclusive
  CHECK(f.check(make("heart_rate", {{"bpm", 250}})).ok());
  CHECK(f.check(make("spo2", {{"saturation", 97.5}})).ok());
  CHECK(f.check(make("spo2", {{"saturation", 98}})).ok());  // an integer is a number
  CHECK(f.check(make("temperature", {{"celsius", 37.2}})).ok());
  CHECK(f.check(make("temperature", {{"celsius", 37.2}, {"site", "axillary"}})).ok());
  CHECK(f.check(make("blood_pressure", {{"systolic", 120}, {"diastolic", 80}})).ok());
  CHECK(f.check(make("blood_pressure", {{"systolic", 120}, {"diastolic", 80}, {"irregular_heartbeat", true}})).ok());
  const auto v = f.check(make("heart_rate", {{"bpm", 72}}));
  CHECK(v.code() == "ok");
  CHECK_FALSE(v.kind().has_value());
  CHECK_THROWS_AS(v.violation(), hefl::invalid_argument);
}

TEST_CASE("every rule violation is reported with its kind, field and message", "[iot][rules][check]") {
  fixture f;
  const auto rejected = [&](const rule_verdict& v, rule_violation_kind kind) {
    REQUIRE_FALSE(v.ok());
    CHECK(v.violation().kind == kind);
    CHECK(v.code() == to_string(kind));
    return v.violation();
  };

  SECTION("unknown_group") {
    const auto v = rejected(f.rules.check(99, "d1", make("heart_rate", {{"bpm", 72}}), t0),
                            rule_violation_kind::unknown_group);
    CHECK(v.message == "no rule contract is deployed for group 99");
  }
  SECTION("type_not_allowed") {
    const auto v = rejected(f.check(make("insulin_dose", {{"units", 4}})), rule_violation_kind::type_not_allowed);
    CHECK_THAT(v.message, Catch::Contains("may not send data type 'insulin_dose'") &&
                              Catch::Contains("allowed: blood_pressure, heart_rate, spo2, temperature"));
  }
  SECTION("missing_field") {
    const auto v = rejected(f.check(make("blood_pressure", {{"systolic", 120}})), rule_violation_kind::missing_field);
    CHECK(v.field == "diastolic");
    CHECK_THAT(v.message, Catch::Contains("requires field 'diastolic'"));
    rejected(f.check(make("heart_rate", {})), rule_violation_kind::missing_field);
  }
  SECTION("unknown_field") {
    const auto v = rejected(f.check(make("heart_rate", {{"bpm", 72}, {"note", "x"}})), rule_violation_kind::unknown_field);
    CHECK(v.field == "note");
    CHECK(v.message == "data type 'heart_rate' has no field 'note'");
  }
  SECTION("wrong_field_type") {
    auto v = rejected(f.check(make("heart_rate", {{"bpm", "72"}})), rule_violation_kind::wrong_field_type);
    CHECK(v.field == "bpm");
    CHECK(v.message == "field 'bpm': expected integer, got string");
    v = rejected(f.check(make("heart_rate", {{"bpm", 72.0}})), rule_violation_kind::wrong_field_type);
    CHECK(v.message == "field 'bpm': expected integer, got number");
    v = rejected(f.check(make("spo2", {{"saturation", true}})), rule_violation_kind::wrong_field_type);
    CHECK(v.message == "field 'saturation': expected number, got bool");
    v = rejected(f.check(make("temperature", {{"celsius", 37}, {"site", 3}})), rule_violation_kind::wrong_field_type);
    CHECK(v.field == "site");
    v = rejected(f.check(make("blood_pressure", {{"systolic", 120}, {"diastolic", 80}, {"irregular_heartbeat", 1}})),
                 rule_violation_kind::wrong_field_type);
    CHECK(v.message == "field 'irregular_heartbeat': expected bool, got integer");
  }
  SECTION("out_of_range, with the field and its bounds") {
    auto v = rejected(f.check(make("heart_rate", {{"bpm", 300}})), rule_violation_kind::out_of_range);
    CHECK(v.field == "bpm");
    CHECK(v.min == 20);
    CHECK(v.max == 250);
    CHECK(v.actual == 300);
    CHECK(v.message == "field 'bpm' = 300 bpm is out of range [20, 250] bpm");
    v = rejected(f.check(make("heart_rate", {{"bpm", 19}})), rule_violation_kind::out_of_range);
    CHECK(v.actual == 19);
    v = rejected(f.check(make("heart_rate", {{"bpm", std::uint64_t{1} << 63}})), rule_violation_kind::out_of_range);
    CHECK_THAT(v.message, Catch::Contains("9223372036854775808 bpm"));
    v = rejected(f.check(make("spo2", {{"saturation", 100.01}})), rule_violation_kind::out_of_range);
    CHECK(v.message == "field 'saturation' = 100.01 % is out of range [50, 100] %");
    v = rejected(f.check(make("temperature", {{"celsius", 29.9}})), rule_violation_kind::out_of_range);
    CHECK(v.message == "field 'celsius' = 29.9 °C is out of range [30, 45] °C");
    v = rejected(f.check(make("temperature", {{"celsius", 37}, {"site", "a very long site name"}})),
                 rule_violation_kind::out_of_range);
    CHECK(v.field == "site");
    CHECK(v.max == 16);
    CHECK(v.actual == 21);
    v = rejected(f.check(make("blood_pressure", {{"systolic", 120}, {"diastolic", -80}})), rule_violation_kind::out_of_range);
    CHECK(v.field == "diastolic");
    CHECK(v.min == 20);
    CHECK(v.max == 160);
  }
  SECTION("oversized") {
    const auto v = rejected(f.check(make("temperature", {{"celsius", 37}, {"site", std::string(300, 'x')}})),
                            rule_violation_kind::oversized);
    CHECK(v.max == 256);
    CHECK(v.actual > 256);
    CHECK_THAT(v.message, Catch::Contains("exceeds the group's limit of 256 bytes"));
    // Size comes before type: an oversized payload of a forbidden type is still "oversized".
    rejected(f.check(make("insulin_dose", {{"units", std::string(300, 'x')}})), rule_violation_kind::oversized);
  }
  SECTION("malformed") {
    const auto v = rejected(f.check(make("heart_rate", {{"bpm", json::array({72, 73})}})), rule_violation_kind::malformed);
    CHECK(v.field == "bpm");
    CHECK_THAT(v.message, Catch::Contains("got array"));
    rejected(f.check(make("heart_rate", {{"bpm", nullptr}})), rule_violation_kind::malformed);
    rejected(f.check(make("spo2", {{"saturation", std::numeric_limits<double>::quiet_NaN()}})),
             rule_violation_kind::malformed);
  }
  SECTION("rate_exceeded") {
    const auto p = make("heart_rate", {{"bpm", 72}});
    for (int i = 0; i < 60; ++i) REQUIRE(f.rules.check(vital_signs, "monitor-1", p, t0).ok());
    const auto v = rejected(f.rules.check(vital_signs, "monitor-1", p, t0), rule_violation_kind::rate_exceeded);
    CHECK(v.message == "device 'monitor-1' exceeded 60 messages per minute of group 1 (vital-signs)");
    CHECK(v.max == 60);
  }
}

TEST_CASE("rate limiting lets N per minute through per device, sustained", "[iot][rules][rate]") {
  fixture f;
  const auto p = make("heart_rate", {{"bpm", 72}});
  const auto check = [&](const char* device, iot_clock::time_point t) {
    return f.rules.check(vital_signs, device, p, t);
  };
  for (int i = 0; i < 60; ++i) REQUIRE(check("a", t0).ok());
  CHECK(check("a", t0).kind() == rule_violation_kind::rate_exceeded);
  CHECK(check("a", t0 + 999ms).kind() == rule_violation_kind::rate_exceeded);
  CHECK(check("b", t0).ok());  // another device has its own budget
  CHECK(check("a", t0 + 1s).ok());  // one message per second refills
  CHECK_FALSE(check("a", t0 + 1s).ok());
  // Sustained: one per second for two minutes is all accepted, two per second is half refused.
  int accepted = 0;
  for (int s = 2; s < 122; ++s) accepted += check("a", t0 + std::chrono::seconds(s)).ok();
  CHECK(accepted == 120);
  accepted = 0;
  for (int h = 0; h < 240; ++h) accepted += check("a", t0 + 122s + std::chrono::milliseconds(500 * h)).ok();
  CHECK(accepted >= 120);
  CHECK(accepted <= 122);
  // Refused messages count too: a device hammering with bad data is cut off.
  for (int i = 0; i < 60; ++i) check("c", t0);
  CHECK(check("c", t0).kind() == rule_violation_kind::rate_exceeded);
}

TEST_CASE("the rate table stays bounded and fails closed when full", "[iot][rules][rate]") {
  recorder rec;
  rule_manager<> rules(is_admin, rec.observer(), rule_manager_options{100});
  REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, *admin().keys.private_key, admin().cert, test_rng()))
              .accepted());
  const auto p = make("heart_rate", {{"bpm", 72}});
  for (int i = 0; i < 100; ++i) REQUIRE(rules.check(vital_signs, "d" + std::to_string(i), p, t0).ok());
  CHECK(rules.tracked_devices() == 100);
  const auto full = rules.check(vital_signs, "newcomer", p, t0);
  REQUIRE(full.kind() == rule_violation_kind::rate_exceeded);
  CHECK_THAT(full.violation().message, Catch::Contains("rate table full: 100 devices"));
  CHECK(rules.check(vital_signs, "d5", p, t0).ok());  // known devices keep working
  // Once the tracked devices' state has expired (1 s per message at 60/min), newcomers get in.
  CHECK(rules.check(vital_signs, "newcomer", p, t0 + 3s).ok());
  CHECK(rules.tracked_devices() == 1);
  // A flood of distinct device ids over time never grows the table past its cap.
  for (int i = 0; i < 5000; ++i) {
    (void)rules.check(vital_signs, "flood-" + std::to_string(i), p, t0 + 10s + std::chrono::milliseconds(i));
    REQUIRE(rules.tracked_devices() <= 100);
  }
}

// ---------------------------------------------------------------------------------------------------
// Deployments

TEST_CASE("only an admin-signed, newer deployment installs a contract; each outcome is reported",
          "[iot][rules][deploy]") {
  recorder rec;
  rule_manager<> rules(is_admin, rec.observer());
  const auto& key = *admin().keys.private_key;

  const auto first = sign_deployment(with_version(1), key, admin().cert, test_rng());
  const auto e1 = rules.deploy(first);
  CHECK(e1.accepted());
  CHECK(e1.group_id == std::optional<std::uint32_t>(1));
  CHECK(e1.group_name == "vital-signs");
  CHECK(e1.version == 1);
  CHECK(e1.installed_version == 0);
  CHECK(e1.contract_hash == sha256(first.contract));
  CHECK_THAT(e1.signer, Catch::Contains("admin"));
  CHECK_FALSE(e1.signer_fingerprint.empty());
  REQUIRE(rules.contract(vital_signs));
  CHECK(rules.contract(vital_signs)->version == 1);
  CHECK(rules.group_count() == 1);

  SECTION("a newer version replaces the contract") {
    auto j = example();
    j["version"] = 2;
    j["data_types"]["heart_rate"]["fields"]["bpm"]["max"] = 220;
    const auto e = rules.deploy(sign_deployment(j.dump(), key, admin().cert, test_rng()));
    CHECK(e.accepted());
    CHECK(e.installed_version == 1);
    CHECK(rules.contract(vital_signs)->version == 2);
    CHECK(rules.check(vital_signs, "d", make("heart_rate", {{"bpm", 230}}), t0).kind() ==
          rule_violation_kind::out_of_range);
    SECTION("and replaying the old deployment is refused") {
      const auto replay = rules.deploy(first);
      CHECK(replay.status == deployment_status::stale_version);
      CHECK(replay.message == "group 1 (vital-signs): version 1 is not above the installed version 2");
      CHECK(rules.contract(vital_signs)->version == 2);
    }
  }
  SECTION("another group gets its own contract and versions") {
    auto j = example();
    j["group_id"] = 2;
    j["name"] = "infusion";
    j["data_types"] = json::parse(R"({"rate": {"fields": {"ml_per_h": {"type": "number", "unit": "ml/h", "min": 0, "max": 999, "required": true}}}})");
    const auto e = rules.deploy(sign_deployment(j.dump(), key, admin().cert, test_rng()));
    CHECK(e.accepted());
    CHECK(e.installed_version == 0);  // version 1 again, but of another group
    CHECK(rules.group_count() == 2);
    CHECK(rules.check(2, "pump", make("rate", {{"ml_per_h", 20}}), t0).ok());
    CHECK(rules.check(2, "pump", make("heart_rate", {{"bpm", 72}}), t0).kind() == rule_violation_kind::type_not_allowed);
    CHECK(rules.check(vital_signs, "pump", make("rate", {{"ml_per_h", 20}}), t0).kind() ==
          rule_violation_kind::type_not_allowed);
  }
  SECTION("replaying the same deployment is refused") {
    const auto e = rules.deploy(first);
    CHECK(e.status == deployment_status::stale_version);
    CHECK_FALSE(e.accepted());
  }
  SECTION("a deployment signed by a non-admin is refused") {
    const auto e = rules.deploy(sign_deployment(with_version(5), *nurse().keys.private_key, nurse().cert, test_rng()));
    CHECK(e.status == deployment_status::not_admin);
    CHECK_THAT(e.message, Catch::Contains("nurse") && Catch::Contains("is not an admin"));
    CHECK_FALSE(e.group_id.has_value());  // not parsed
    CHECK(rules.contract(vital_signs)->version == 1);
  }
  SECTION("an admin certificate with a signature by another key is refused") {
    auto d = sign_deployment(with_version(5), *nurse().keys.private_key, nurse().cert, test_rng());
    d.signer = admin().cert;
    CHECK(rules.deploy(d).status == deployment_status::bad_signature);
  }
  SECTION("a tampered contract or signature is refused") {
    auto d = sign_deployment(with_version(5), key, admin().cert, test_rng());
    auto tampered = d;
    const auto pos = std::string(tampered.contract.begin(), tampered.contract.end()).find("250");
    REQUIRE(pos != std::string::npos);
    tampered.contract[pos] = '9';  // bpm max 950
    CHECK(rules.deploy(tampered).status == deployment_status::bad_signature);
    tampered = d;
    tampered.signature[3] ^= 1;
    CHECK(rules.deploy(tampered).status == deployment_status::bad_signature);
    tampered = d;
    tampered.signature.clear();
    CHECK(rules.deploy(tampered).status == deployment_status::bad_signature);
    CHECK(rules.deploy(d).accepted());  // the untampered one still works
  }
  SECTION("a signature over the bare contract, without the domain tag, is refused") {
    signed_deployment d;
    const auto text = with_version(5);
    d.contract.assign(text.begin(), text.end());
    d.signature = ecdsa_p256_signing::sign(key, d.contract, test_rng());
    d.signer = admin().cert;
    CHECK(rules.deploy(d).status == deployment_status::bad_signature);
  }
  SECTION("an admin-signed malformed contract is refused with the parser's message") {
    auto j = example();
    j["version"] = 9;
    j["data_types"]["spo2"]["fields"]["saturation"]["min"] = 101;
    const auto e = rules.deploy(sign_deployment(j.dump(), key, admin().cert, test_rng()));
    CHECK(e.status == deployment_status::malformed_contract);
    CHECK_THAT(e.message, Catch::Contains("/data_types/spo2/fields/saturation: min 101 > max 100"));
    const auto garbage = rules.deploy(sign_deployment("not json", key, admin().cert, test_rng()));
    CHECK(garbage.status == deployment_status::malformed_contract);
  }
  SECTION("an Ed25519-signed deployment does not pass as ECDSA") {
    const auto ed = ed25519_signing::generate(test_rng());
    signed_deployment d;
    const auto text = with_version(5);
    d.contract.assign(text.begin(), text.end());
    d.signature = ed25519_signing::sign(*ed.private_key, deployment_message(d.contract), test_rng());
    d.signer = admin().cert;
    CHECK(rules.deploy(d).status == deployment_status::bad_signature);
  }

  // Every deployment above, accepted or not, reached the observer, in order, with the returned event.
  REQUIRE_FALSE(rec.events.empty());
  CHECK(rec.events.front().accepted());
  CHECK(rec.events.front().version == 1);
  for (const auto& e : rec.events) CHECK(e.contract_hash != record_digest{});
}

TEST_CASE("a deployment the observer could not record is not installed", "[iot][rules][deploy]") {
  bool ledger_up = false;
  int calls = 0;
  rule_manager<> rules(is_admin, [&](const deployment_event&) {
    ++calls;
    if (!ledger_up) throw hefl::io_error("ledger unavailable");
  });
  const auto d = sign_deployment(vital_signs_example_contract, *admin().keys.private_key, admin().cert, test_rng());
  CHECK_THROWS_AS(rules.deploy(d), hefl::io_error);
  CHECK_FALSE(rules.contract(vital_signs));
  ledger_up = true;
  CHECK(rules.deploy(d).accepted());
  CHECK(rules.contract(vital_signs));
  CHECK(calls == 2);
}

TEST_CASE("an admin predicate that throws counts as not admin", "[iot][rules][deploy]") {
  recorder rec;
  rule_manager<> rules([](const Botan::X509_Certificate&) -> bool { throw hefl::security_error("CRL missing"); },
                       rec.observer());
  const auto e = rules.deploy(sign_deployment(vital_signs_example_contract, *admin().keys.private_key, admin().cert,
                                              test_rng()));
  CHECK(e.status == deployment_status::not_admin);
  CHECK_THAT(e.message, Catch::Contains("CRL missing"));
  REQUIRE(rec.events.size() == 1);
  CHECK(rec.events[0].status == deployment_status::not_admin);
}

TEST_CASE("the rule manager refuses to be built without its seams", "[iot][rules][deploy]") {
  CHECK_THROWS_AS(rule_manager<>(nullptr, [](const deployment_event&) {}), hefl::invalid_argument);
  CHECK_THROWS_WITH(rule_manager<>(is_admin, nullptr), Catch::Contains("expected a deployment observer"));
  CHECK_THROWS_AS(rule_manager<>(is_admin, [](const deployment_event&) {}, rule_manager_options{0}),
                  hefl::invalid_argument);
  static_assert(rule_policy<rule_manager<>>);
  static_assert(!rule_policy<int>);
}

TEST_CASE("checks run concurrently with deployments and see whole contracts", "[iot][rules][deploy]") {
  fixture f;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread checker([&] {
    const auto p = make("heart_rate", {{"bpm", 240}});  // allowed by version 1 (max 250) only
    int i = 0;
    while (!stop) {
      const auto v = f.rules.check(vital_signs, "d" + std::to_string(i++ % 1000), p, t0 + std::chrono::hours(i));
      if (!v.ok() && v.kind() != rule_violation_kind::out_of_range) ++bad;
    }
  });
  for (std::uint64_t version = 2; version <= 20; ++version) {
    auto j = example();
    j["version"] = version;
    j["data_types"]["heart_rate"]["fields"]["bpm"]["max"] = 200;
    REQUIRE(f.rules.deploy(sign_deployment(j.dump(), *admin().keys.private_key, admin().cert, test_rng())).accepted());
  }
  stop = true;
  checker.join();
  CHECK(bad == 0);
  CHECK(f.rules.contract(vital_signs)->version == 20);
  CHECK(f.rules.check(vital_signs, "z", make("heart_rate", {{"bpm", 240}}), t0).kind() ==
        rule_violation_kind::out_of_range);
  CHECK(f.rec.events.size() == 20);
}
