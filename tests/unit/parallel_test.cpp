#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "hefl/core/parallel.hpp"

TEST_CASE("parallel_for visits every item once, for every thread count", "[parallel]") {
  for (int threads : {1, 2, 3}) {
    const hefl::scoped_thread_count scope(threads);
    std::vector<int> hits(1000, 0);
    hefl::parallel_for(hits.size(), [&](std::size_t i) { hits[i] += 1; });
    for (int h : hits) REQUIRE(h == 1);
  }
}

TEST_CASE("parallel_for rethrows an item's exception on the caller", "[parallel]") {
  const hefl::scoped_thread_count scope(2);
  std::atomic<int> ran{0};
  REQUIRE_THROWS_AS(hefl::parallel_for(16,
                                       [&](std::size_t i) {
                                         ++ran;
                                         if (i == 5) throw std::runtime_error("item 5");
                                       }),
                    std::runtime_error);
  REQUIRE(ran.load() == 16);
}

TEST_CASE("set_thread_count refuses nonsense and scoped_thread_count restores", "[parallel]") {
  REQUIRE_THROWS_AS(hefl::set_thread_count(-1), hefl::invalid_argument);
  REQUIRE_THROWS_AS(hefl::set_thread_count(5000), hefl::invalid_argument);
  const int before = hefl::thread_count();
  {
    const hefl::scoped_thread_count scope(1);
    REQUIRE(hefl::thread_count() == 1);
  }
  REQUIRE(hefl::thread_count() == before);
}
