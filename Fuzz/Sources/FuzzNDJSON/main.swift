import FuzzSupport

runFuzzer { data, size in fuzzNDJSON(data, size) }
