#pragma once
/// @file
/// The Pima Indians diabetes data (National Institute of Diabetes and Digestive and Kidney
/// Diseases, via the UCI repository; Smith et al., "Using the ADAP learning algorithm to forecast
/// the onset of diabetes mellitus", SCAMC 1988): 768 patients, 8 clinical measurements, label 1 =
/// tested positive. hefl ships Weka's diabetes.arff from Debian's weka package in data/pima/ (source
/// and licence in data/pima/README.md). The features are in their clinical units: standardise them
/// (data/standardize.hpp) before training.

#include <hefl/core/error.hpp>
#include <hefl/data/arff.hpp>

#include <array>
#include <string>
#include <string_view>

namespace hefl::data {

/// The eight attribute names of diabetes.arff, in file order: pregnancies, plasma glucose (2 h oral
/// glucose tolerance test), diastolic blood pressure, triceps skin fold, 2-h serum insulin, body mass
/// index, diabetes pedigree function, age.
inline constexpr std::array<std::string_view, 8> pima_feature_names = {"preg", "plas", "pres", "skin",
                                                                        "insu", "mass", "pedi", "age"};

/// Loads diabetes.arff (e.g. data/pima/diabetes.arff) with 'tested_positive' as label 1.
/// @throws hefl::io_error if the file cannot be opened; hefl::parse_error if it is not a valid ARFF
///         file or its attributes are not the eight Pima features and the class.
[[nodiscard]] inline dataset pima_diabetes(const std::string& path) {
  arff_options opt;
  opt.class_attribute = "class";
  opt.positive_class = "tested_positive";
  auto a = load_arff(path, opt);
  bool same = a.info.feature_names.size() == pima_feature_names.size();
  for (std::size_t i = 0; same && i < pima_feature_names.size(); ++i) same = a.info.feature_names[i] == pima_feature_names[i];
  if (!same) throw parse_error("pima_diabetes: '" + path + "' does not have the attributes preg, plas, pres, skin, insu, mass, pedi, age");
  return std::move(a.data);
}

} // namespace hefl::data
