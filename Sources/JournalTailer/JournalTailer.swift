import RunJournal
