import FuzzSupport

runFuzzer { data, size in fuzzJournalLines(data, size) }
