#pragma once
// A read-only memory mapping of a whole file, unmapped when destroyed.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace sampler {

class MappedFile {
  public:
    // Throws sampler::Error (io) when the file cannot be opened or mapped.
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    std::span<const std::uint8_t> bytes() const { return {data_, size_}; }

  private:
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace sampler
