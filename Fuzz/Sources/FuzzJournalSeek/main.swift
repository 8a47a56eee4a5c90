import FuzzSupport

runFuzzer { data, size in fuzzJournalSeek(data, size) }
