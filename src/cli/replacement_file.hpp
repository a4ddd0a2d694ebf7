#pragma once
// A file written whole or not at all: the bytes go to a new file beside the destination, renamed
// over it only once they are all written. A failed write (a full disk) then leaves neither a
// truncated file nor a destroyed previous one.

#include <string>
#include <string_view>

namespace sampler {

class ReplacementFile {
  public:
    // Creates the temporary file; throws sampler::Error (io) naming `path` when that is
    // impossible (a missing directory, no permission, `path` is a directory).
    explicit ReplacementFile(const std::string& path);
    // Removes the temporary file unless commit() succeeded.
    ~ReplacementFile();
    ReplacementFile(const ReplacementFile&) = delete;
    ReplacementFile& operator=(const ReplacementFile&) = delete;

    // Throws sampler::Error (io) naming the destination.
    void write(std::string_view bytes);
    // Closes the temporary file and renames it over the destination.
    void commit();

  private:
    std::string path_;      // the destination, symbolic links resolved
    std::string shown_;     // the destination as the user named it, for messages
    std::string temp_path_; // empty once renamed
    int fd_ = -1;
};

} // namespace sampler
