#pragma once
/// @file
/// The two axes of a federated run, each a small policy class (ensmallen's habit):
///
/// how a client computes its update (the Compute policy)
/// - fl::plaintext_training: local gradient descent in the clear with the Sigmoid policy.
/// - fl::encrypted_data_training: the client's data are encrypted; a compute party holding
///   evaluation keys computes the gradient on them with public weights; the key holder decrypts the
///   gradient and the weights are updated in the clear (TenSEAL encrypted-LR tutorial, SIMD-packed).
/// - fl::encrypted_model_training: data AND weights encrypted; the compute party sees neither; the
///   key holder refreshes (decrypts and re-encrypts) the weights once per epoch, or, under threshold
///   keys, the quorum refreshes them collectively without decrypting (multiparty/refresh.hpp).
///
/// how updates travel and are combined (the Transport policy)
/// - fl::clear_updates: parameters travel in the clear; any aggregation rule, robust ones included.
/// - fl::encrypted_updates: parameters travel encrypted; the server, holding evaluation material
///   only, forms Σ n_k·Enc(θ_k) with integer weights; the key holder decrypts the sum and divides
///   by Σ n_k. Needs a linear rule.
/// - fl::threshold_updates: as encrypted_updates, with the key holder replaced by a quorum of parties
///   (he::ckks_threshold_backend): no single party holds the secret key, and the aggregate is
///   decrypted only when t parties contribute partial decryptions; with the encrypted compute
///   policies the quorum also decrypts gradient sums and refreshes weights (docs/threshold.md).

#include <hefl/he/backend.hpp>

#include <type_traits>

namespace hefl::fl {

/// Compute policy: local training in the clear.
struct plaintext_training {
  static constexpr bool encrypts_data = false;
  static constexpr bool encrypts_model = false;
  static constexpr const char* name = "plaintext training";
};

/// Compute policy: training on the client's encrypted data with public weights.
struct encrypted_data_training {
  static constexpr bool encrypts_data = true;
  static constexpr bool encrypts_model = false;
  static constexpr const char* name = "encrypted data, public weights";
};

/// Compute policy: training on encrypted data with encrypted weights, refreshed by the key holder
/// once per epoch.
struct encrypted_model_training {
  static constexpr bool encrypts_data = true;
  static constexpr bool encrypts_model = true;
  static constexpr const char* name = "encrypted data and weights";
};

/// Transport policy: updates in the clear.
struct clear_updates {
  static constexpr bool is_encrypted = false;
  static constexpr const char* name = "clear updates";
};

/// Transport policy: updates encrypted and combined on ciphertexts.
struct encrypted_updates {
  static constexpr bool is_encrypted = true;
  static constexpr const char* name = "encrypted updates";
};

/// Transport policy: updates encrypted under a collective key, combined on ciphertexts, decrypted by
/// a quorum (he::threshold_backend). With any compute policy: in the encrypted ones the quorum also
/// decrypts the published gradient sums and refreshes encrypted weights collectively (docs/threshold.md).
struct threshold_updates {
  static constexpr bool is_encrypted = true;
  static constexpr bool is_threshold = true;
  static constexpr const char* name = "threshold updates";
};

/// Whether a Transport policy needs a quorum of key holders (fl::threshold_updates).
template <class T>
inline constexpr bool is_threshold_transport = requires { requires static_cast<bool>(T::is_threshold); };

/// The transport `federated_trainer<Backend, Model, Aggregator, Sigmoid>` uses: encrypted when the
/// backend encrypts, clear otherwise (he::plain_backend).
template <class Backend>
using default_transport = std::conditional_t<he::backend_traits<Backend>::is_encrypted, encrypted_updates, clear_updates>;

/// A Compute policy: says whether it encrypts the data and the model.
template <class C>
concept compute_policy = requires {
  { C::encrypts_data } -> std::convertible_to<bool>;
  { C::encrypts_model } -> std::convertible_to<bool>;
};

/// A Transport policy: says whether updates travel encrypted.
template <class T>
concept transport_policy = requires {
  { T::is_encrypted } -> std::convertible_to<bool>;
};

} // namespace hefl::fl
