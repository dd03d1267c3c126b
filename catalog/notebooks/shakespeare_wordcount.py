# Databricks notebook source
# MAGIC %md
# MAGIC # Shakespeare word count
# MAGIC
# MAGIC Counts how often each word occurs in a text file with Spark and returns the most frequent words.
# MAGIC
# MAGIC **Words.** The text is lower-cased. A word is a maximal run of the characters `a` to `z` and the
# MAGIC apostrophe (the regular expression `[a-z']+`). Apostrophes at the start or end of a word are
# MAGIC removed, and words that are then empty are dropped, so `'tis` counts as `tis` and `thou'rt` stays
# MAGIC `thou'rt`. Letters outside `a` to `z`, digits and hyphens separate words.
# MAGIC
# MAGIC **Parameters.**
# MAGIC - `input_path`: the text file or folder of text files. The default is the copy of Tiny Shakespeare
# MAGIC   in this project, relative to the project folder, which is the working folder of local runs. On
# MAGIC   Databricks, pass a `dbfs:/`, `s3://` or volume path.
# MAGIC - `top_n`: how many of the most frequent words to return, from 1 to 1000.
# MAGIC - `output_path`: the folder for the full counts. OperatorFlow sets it for each run; when it is
# MAGIC   empty, the full counts are not written.
# MAGIC
# MAGIC **Output.** `{output_path}/word_counts/` contains one CSV file with a header and the columns `word`
# MAGIC and `count`, sorted by count (highest first) and then by word. The notebook exits with JSON:
# MAGIC `top_words` (a list of `{"word": ..., "count": ...}` in the same order), `total_words` (the number
# MAGIC of words in the text) and `distinct_words` (the number of different words).

# COMMAND ----------

dbutils.widgets.text("input_path", "examples/data/tinyshakespeare.txt", "Input text file")
dbutils.widgets.text("top_n", "20", "Number of top words")
dbutils.widgets.text("output_path", "", "Output folder")

# COMMAND ----------

# DBTITLE 1,Read and check the parameters
import json
import re

MAX_TOP_N = 1000

input_path = dbutils.widgets.get("input_path").strip()
top_n_text = dbutils.widgets.get("top_n").strip()
output_path = dbutils.widgets.get("output_path").strip()

if not input_path:
    raise ValueError("input_path is empty: give the path of a text file, such as examples/data/tinyshakespeare.txt.")
if not re.fullmatch(r"[0-9]+", top_n_text) or not 1 <= int(top_n_text) <= MAX_TOP_N:
    raise ValueError(f"top_n must be a positive integer from 1 to {MAX_TOP_N}, such as 20; got {top_n_text!r}.")
top_n = int(top_n_text)

# COMMAND ----------

# DBTITLE 1,Count the words
from pyspark.sql import functions as F

lines = spark.read.text(input_path)
tokens = lines.select(
    F.explode(F.regexp_extract_all(F.lower(F.col("value")), F.lit("[a-z']+"), 0)).alias("token")
)
words = tokens.select(F.regexp_replace("token", "^'+|'+$", "").alias("word")).where(F.col("word") != "")
counts = words.groupBy("word").count().cache()

totals = counts.agg(F.sum("count").alias("total"), F.count(F.lit(1)).alias("distinct")).first()
total_words = int(totals["total"] or 0)
distinct_words = int(totals["distinct"])
print(f"{total_words} words, {distinct_words} distinct, in {input_path}")

# COMMAND ----------

# DBTITLE 1,Write every count as CSV
if output_path:
    counts_path = output_path.rstrip("/") + "/word_counts"
    # One partition, sorted within it, gives one CSV file in a guaranteed order.
    (
        counts.coalesce(1)
        .sortWithinPartitions(F.desc("count"), F.asc("word"))
        .write.mode("overwrite")
        .option("header", True)
        .csv(counts_path)
    )
    print(f"Wrote the counts of {distinct_words} words to {counts_path}")
else:
    print("output_path is empty, so the full counts are not written.")

# COMMAND ----------

# DBTITLE 1,Return the most frequent words
# Only the top rows reach the driver.
top_rows = counts.orderBy(F.desc("count"), F.asc("word")).limit(top_n).collect()
counts.unpersist()

for rank, row in enumerate(top_rows, start=1):
    print(f"{rank:4d}  {row['word']:<20} {row['count']}")

dbutils.notebook.exit(json.dumps({
    "top_words": [{"word": row["word"], "count": int(row["count"])} for row in top_rows],
    "total_words": total_words,
    "distinct_words": distinct_words,
}))
