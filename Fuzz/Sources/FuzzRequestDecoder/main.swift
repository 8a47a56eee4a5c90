import FuzzSupport

runFuzzer { data, size in fuzzRequestDecoder(data, size) }
