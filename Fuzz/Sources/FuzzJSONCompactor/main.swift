import FuzzSupport

runFuzzer { data, size in fuzzJSONCompactor(data, size) }
