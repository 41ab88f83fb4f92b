#pragma once
/// @file
/// Simulated vital signs for the device simulator: heart rate, SpO2, temperature, blood pressure,
/// respiration rate and glucose, each a bounded random walk around a per-patient baseline plus
/// Gaussian measurement noise, clamped to physiologically plausible ranges, reproducible from a seed.
/// Simulation only: std::mt19937_64 is not a source of secrets (keys and nonces come from Botan).
/// Ranges follow common adult reference values (e.g. the NEWS2 chart, Royal College of Physicians 2017).

#include <hefl/iot/collection/request.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <string_view>

namespace hefl::services {

/// The six vital signs.
enum class vital : std::uint8_t { heart_rate, spo2, temperature, blood_pressure, respiration_rate, glucose };

/// All six, in declaration order.
inline constexpr std::array<vital, 6> all_vitals{vital::heart_rate,  vital::spo2,
                                                 vital::temperature, vital::blood_pressure,
                                                 vital::respiration_rate, vital::glucose};

/// A rule contract (group 1) admitting the six vital signs with plausible bounds; the simulator's
/// values always satisfy it.
inline constexpr std::string_view vitals_contract = R"({
  "group_id": 1,
  "name": "vitals",
  "version": 1,
  "max_payload_bytes": 256,
  "max_messages_per_minute": 600,
  "data_types": {
    "heart_rate": { "fields": {
      "bpm": { "type": "integer", "unit": "bpm", "min": 20, "max": 250, "required": true } } },
    "spo2": { "fields": {
      "saturation": { "type": "number", "unit": "%", "min": 50, "max": 100, "required": true } } },
    "temperature": { "fields": {
      "celsius": { "type": "number", "unit": "°C", "min": 30, "max": 45, "required": true } } },
    "blood_pressure": { "fields": {
      "systolic": { "type": "integer", "unit": "mmHg", "min": 50, "max": 260, "required": true },
      "diastolic": { "type": "integer", "unit": "mmHg", "min": 20, "max": 160, "required": true } } },
    "respiration_rate": { "fields": {
      "breaths_per_min": { "type": "integer", "unit": "/min", "min": 4, "max": 60, "required": true } } },
    "glucose": { "fields": {
      "mmol_per_l": { "type": "number", "unit": "mmol/L", "min": 1, "max": 35, "required": true } } }
  }
})";

/// A seeded generator of one patient's vital signs.
class vitals_generator {
public:
  /// @param seed reproduces the same sequence; @param unwell shifts the baseline towards
  ///        deterioration (faster heart and breathing, lower SpO2, fever, low blood pressure), 0..1
  explicit vitals_generator(std::uint64_t seed, double unwell = 0.0) : m_rng(seed) {
    const double u = std::clamp(unwell, 0.0, 1.0);
    std::normal_distribution<double> spread(0.0, 1.0);
    m_base = {72 + 8 * spread(m_rng) + 40 * u,  97.5 + 0.8 * spread(m_rng) - 8 * u, 36.8 + 0.3 * spread(m_rng) + 2 * u,
              120 + 10 * spread(m_rng) - 30 * u, 16 + 2 * spread(m_rng) + 10 * u,  5.5 + 0.8 * spread(m_rng) + 3 * u};
    m_now = m_base;
  }

  /// The next measurement of @p v as a payload of the vitals contract.
  [[nodiscard]] iot::payload next(vital v) {
    const auto i = static_cast<std::size_t>(v);
    // Random walk pulled back to the baseline (an Ornstein-Uhlenbeck step), then measurement noise.
    std::normal_distribution<double> step(0.0, 1.0);
    m_now[i] += 0.2 * (m_base[i] - m_now[i]) + walk[i] * step(m_rng);
    const double x = m_now[i] + noise[i] * step(m_rng);
    iot::payload p;
    switch (v) {
      case vital::heart_rate:
        p.type = "heart_rate";
        p.fields.emplace("bpm", static_cast<std::int64_t>(std::lround(std::clamp(x, 30.0, 200.0))));
        break;
      case vital::spo2:
        p.type = "spo2";
        p.fields.emplace("saturation", round1(std::clamp(x, 70.0, 100.0)));
        break;
      case vital::temperature:
        p.type = "temperature";
        p.fields.emplace("celsius", round1(std::clamp(x, 34.0, 42.0)));
        break;
      case vital::blood_pressure: {
        p.type = "blood_pressure";
        const double sys = std::clamp(x, 70.0, 220.0);
        const double dia = std::clamp(sys * 0.65 + 3 * step(m_rng), 40.0, 130.0);
        p.fields.emplace("systolic", static_cast<std::int64_t>(std::lround(sys)));
        p.fields.emplace("diastolic", static_cast<std::int64_t>(std::lround(dia)));
        break;
      }
      case vital::respiration_rate:
        p.type = "respiration_rate";
        p.fields.emplace("breaths_per_min", static_cast<std::int64_t>(std::lround(std::clamp(x, 6.0, 45.0))));
        break;
      case vital::glucose:
        p.type = "glucose";
        p.fields.emplace("mmol_per_l", round1(std::clamp(x, 2.0, 30.0)));
        break;
    }
    return p;
  }

private:
  static double round1(double x) { return std::round(x * 10.0) / 10.0; }
  static constexpr std::array<double, 6> walk{1.5, 0.3, 0.05, 2.0, 0.5, 0.2};   // per-step drift
  static constexpr std::array<double, 6> noise{2.0, 0.5, 0.1, 4.0, 1.0, 0.2};   // measurement noise
  std::mt19937_64 m_rng;
  std::array<double, 6> m_base{}, m_now{};
};

} // namespace hefl::services
