"""Reading finished runs: labels, reports, figures, CSV/JSON export and the cluster
projection of a log's rounds."""
