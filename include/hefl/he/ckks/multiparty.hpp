#pragma once
/// @file
/// Multiparty CKKS (N-out-of-N, and t-out-of-N through threshold.hpp): the protocols of Mouchet, Troncoso-Pastoriza, Bossuat,
/// Hubaux, "Multiparty Homomorphic Encryption from Ring-Learning-with-Errors" (PETS 2021). See
/// docs/threshold.md.

#include <hefl/he/ckks/multiparty/ckg.hpp>
#include <hefl/he/ckks/multiparty/cks.hpp>
#include <hefl/he/ckks/multiparty/pcks.hpp>
#include <hefl/he/ckks/multiparty/refresh.hpp>
#include <hefl/he/ckks/multiparty/rkg.hpp>
#include <hefl/he/ckks/multiparty/rtg.hpp>
#include <hefl/he/ckks/multiparty/sampling.hpp>
#include <hefl/he/ckks/multiparty/session.hpp>
#include <hefl/he/ckks/multiparty/share.hpp>
#include <hefl/he/ckks/multiparty/threshold.hpp>
