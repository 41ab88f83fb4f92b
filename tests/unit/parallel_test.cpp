#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
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
  REQUIRE_THROWS_AS(hefl::set_thread_count(65), hefl::invalid_argument);
  const int before = hefl::thread_count();
  {
    const hefl::scoped_thread_count scope(1);
    REQUIRE(hefl::thread_count() == 1);
  }
  REQUIRE(hefl::thread_count() == before);
}

TEST_CASE("parallel_for nests and runs from several threads at once", "[parallel]") {
  const hefl::scoped_thread_count scope(2);
  // A loop inside an item runs on that item's thread.
  std::vector<std::vector<int>> grid(8, std::vector<int>(50, 0));
  hefl::parallel_for(grid.size(), [&](std::size_t i) {
    hefl::parallel_for(grid[i].size(), [&](std::size_t j) { grid[i][j] = static_cast<int>(i * 100 + j); });
  });
  for (std::size_t i = 0; i < grid.size(); ++i)
    for (std::size_t j = 0; j < grid[i].size(); ++j) REQUIRE(grid[i][j] == static_cast<int>(i * 100 + j));

  // Two callers at once: one gets the pool, the other runs alone; both finish with every item done.
  std::vector<long> a(20000, 0), b(20000, 0);
  std::thread other([&] {
    for (int round = 0; round < 50; ++round) hefl::parallel_for(b.size(), [&](std::size_t i) { b[i] += 1; });
  });
  for (int round = 0; round < 50; ++round) hefl::parallel_for(a.size(), [&](std::size_t i) { a[i] += 1; });
  other.join();
  for (std::size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i] == 50);
    REQUIRE(b[i] == 50);
  }
}
