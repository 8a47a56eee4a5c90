import CFastCGI
import RunsAPI
