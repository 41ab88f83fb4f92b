#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/he/paillier_backend.hpp>
#include <hefl/he/plain_backend.hpp>
#include <hefl/testing/backend_conformance.hpp>

#include "../../examples/05_custom_backend.hpp"

#include <memory>

using namespace hefl;

HEFL_BACKEND_CONFORMANCE_TEST("plain_backend", he::plain_backend, [] { return std::make_unique<he::plain_backend>(64); })

HEFL_BACKEND_CONFORMANCE_TEST("plain_backend with one slot", he::plain_backend,
                              [] { return std::make_unique<he::plain_backend>(1); })

TEST_CASE("backend conformance: ckks_backend, small insecure parameters", "[backend][conformance][ckks]") {
  crypto::seeded_random rng(3);
  he::ckks_backend_options opts;
  opts.relinearization = false;
  opts.rotations = false;
  he::ckks_backend b(he::ckks::parameters(2048, {60, 40, 40, 60}, 40, he::ckks::security::none_i_know_this_is_insecure),
                     rng, opts);
  testing::conformance_options o;
  o.tolerance = 1e-4;  // CKKS is approximate: ~2^-25 relative at scale 2^40 (docs/ckks.md)
  testing::check_backend_conformance(b, o);
}

TEST_CASE("backend conformance: paillier_backend, 2048-bit default parameters", "[backend][conformance][paillier]") {
  crypto::seeded_random rng(4);
  he::paillier_backend b(he::paillier_params{}, rng);
  testing::check_backend_conformance(b);
}

HEFL_BACKEND_CONFORMANCE_TEST("examples/05 toy masking backend (INSECURE)", example::toy_masking_backend,
                              [] { return std::make_unique<example::toy_masking_backend>(0x5eed); })
