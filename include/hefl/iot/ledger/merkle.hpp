#pragma once
/// @file
/// SHA-256 Merkle trees with inclusion proofs, shaped like RFC 6962 §2.1 (Certificate Transparency):
/// leaves are hashed as SHA-256(0x00 || data) and interior nodes as SHA-256(0x01 || left || right),
/// so a leaf can never pose as an interior node (second-preimage attack on unbalanced trees).
/// Needs Botan 2 (target hefl::iot).

#include <hefl/core/error.hpp>

#include <botan/hex.h>
#include <botan/hash.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace hefl::iot {

/// A SHA-256 output.
using sha256_digest = std::array<std::uint8_t, 32>;

namespace ledger_detail {

/// SHA-256 of the concatenation of @p parts, with an optional one-byte domain prefix.
inline sha256_digest sha256_parts(std::initializer_list<std::span<const std::uint8_t>> parts, int prefix = -1) {
  // One hasher per thread: creating a Botan hash allocates, and trees hash many small inputs.
  thread_local const std::unique_ptr<Botan::HashFunction> h = Botan::HashFunction::create_or_throw("SHA-256");
  if (prefix >= 0) h->update(static_cast<std::uint8_t>(prefix));
  for (const auto& p : parts) h->update(p.data(), p.size());
  sha256_digest out;
  h->final(out.data());
  return out;
}

/// Lower-case hexadecimal of @p bytes.
inline std::string to_hex(std::span<const std::uint8_t> bytes) {
  return Botan::hex_encode(bytes.data(), bytes.size(), false);
}

} // namespace ledger_detail

/// An inclusion proof: the audit path of RFC 6962 §2.1.1, bottom-up.
struct merkle_proof {
  std::uint64_t index = 0;              ///< position of the leaf
  std::uint64_t tree_size = 0;          ///< number of leaves in the tree the proof is for
  std::vector<sha256_digest> path;      ///< sibling hashes from the leaf level up to the root
};

/// A Merkle tree over leaf hashes, keeping every level so that proofs cost O(log n).
///
/// Built bottom-up: pairs are hashed and an unpaired last node is promoted unchanged, which gives
/// exactly the left-balanced tree of RFC 6962 (split at the largest power of two below n).
class merkle_tree {
public:
  /// Hash of a leaf's data, domain-separated from interior nodes (RFC 6962 §2.1: 0x00 prefix).
  /// @throws nothing
  [[nodiscard]] static sha256_digest leaf_hash(std::span<const std::uint8_t> data) {
    return ledger_detail::sha256_parts({data}, 0x00);
  }

  /// Hash of an interior node (RFC 6962 §2.1: 0x01 prefix).
  /// @throws nothing
  [[nodiscard]] static sha256_digest node_hash(const sha256_digest& left, const sha256_digest& right) {
    return ledger_detail::sha256_parts({left, right}, 0x01);
  }

  /// Root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
  /// @throws nothing
  [[nodiscard]] static sha256_digest empty_root() { return ledger_detail::sha256_parts({}); }

  /// Builds the tree over already-hashed leaves (see leaf_hash()).
  /// @throws nothing beyond std::bad_alloc
  explicit merkle_tree(std::vector<sha256_digest> leaf_hashes) {
    m_levels.push_back(std::move(leaf_hashes));
    while (m_levels.back().size() > 1) {
      const auto& below = m_levels.back();
      std::vector<sha256_digest> above;
      above.reserve((below.size() + 1) / 2);
      for (std::size_t i = 0; i + 1 < below.size(); i += 2) above.push_back(node_hash(below[i], below[i + 1]));
      if (below.size() % 2 == 1) above.push_back(below.back());
      m_levels.push_back(std::move(above));
    }
  }

  /// Number of leaves.
  /// @throws nothing
  [[nodiscard]] std::size_t size() const noexcept { return m_levels.front().size(); }

  /// The Merkle tree hash of all leaves; empty_root() for no leaves.
  /// @throws nothing
  [[nodiscard]] sha256_digest root() const { return size() == 0 ? empty_root() : m_levels.back().front(); }

  /// The audit path proving that leaf @p index is in this tree.
  /// @throws hefl::invalid_argument if index >= size()
  [[nodiscard]] merkle_proof proof(std::size_t index) const {
    if (index >= size())
      throw invalid_argument("merkle_tree::proof: leaf index " + std::to_string(index) + " out of range, tree has " +
                             std::to_string(size()) + " leaves");
    merkle_proof p{index, size(), {}};
    for (std::size_t level = 0; level + 1 < m_levels.size(); ++level) {
      const std::size_t sibling = index ^ 1U;
      // The promoted last node of an odd level has no sibling at this level.
      if (sibling < m_levels[level].size()) p.path.push_back(m_levels[level][sibling]);
      index >>= 1U;
    }
    return p;
  }

  /// Checks an inclusion proof with the verification algorithm of RFC 9162 §2.1.3.2, which walks the
  /// path from the index and the tree size alone (it does not trust the tree that made the proof).
  /// @returns false for any inconsistent index, size, path length or hash.
  /// @throws nothing for bad proofs (only std::bad_alloc could escape)
  [[nodiscard]] static bool verify_proof(const sha256_digest& leaf, const merkle_proof& proof,
                                         const sha256_digest& root) {
    if (proof.index >= proof.tree_size || proof.path.size() > 64) return false;
    std::uint64_t fn = proof.index, sn = proof.tree_size - 1;
    sha256_digest r = leaf;
    for (const auto& p : proof.path) {
      if (sn == 0) return false;
      if ((fn & 1U) == 1U || fn == sn) {
        r = node_hash(p, r);
        while ((fn & 1U) == 0U && fn != 0) {
          fn >>= 1U;
          sn >>= 1U;
        }
      } else {
        r = node_hash(r, p);
      }
      fn >>= 1U;
      sn >>= 1U;
    }
    return sn == 0 && r == root;
  }

private:
  std::vector<std::vector<sha256_digest>> m_levels;
};

} // namespace hefl::iot
