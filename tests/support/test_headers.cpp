// The translation unit test_headers needs to precompile the tests' common headers (tests/CMakeLists.txt).
