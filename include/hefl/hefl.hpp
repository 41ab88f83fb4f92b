#pragma once
/// @file
/// Umbrella header of the Eigen-only part of hefl (federated learning, backends including CKKS,
/// approximations, data). CKKS draws randomness from a hefl::random_source the caller provides. The IoT trust layer, which needs Botan, has its own umbrella: hefl/iot.hpp.

#include <hefl/aggregate/fedavg.hpp>
#include <hefl/aggregate/robust.hpp>
#include <hefl/approx/evaluate.hpp>
#include <hefl/approx/families.hpp>
#include <hefl/approx/fit.hpp>
#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>
#include <hefl/core/parallel.hpp>
#include <hefl/data/arff.hpp>
#include <hefl/data/csv.hpp>
#include <hefl/data/partition.hpp>
#include <hefl/data/pima.hpp>
#include <hefl/data/split.hpp>
#include <hefl/data/standardize.hpp>
#include <hefl/data/synthetic.hpp>
#include <hefl/fl/encrypted_gradient.hpp>
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/backend.hpp>
#include <hefl/he/ckks/multiparty.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/he/ckks_threshold_backend.hpp>
#include <hefl/he/plain_backend.hpp>
#include <hefl/model/logistic_regression.hpp>
