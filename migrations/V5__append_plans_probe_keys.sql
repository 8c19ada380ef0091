-- The append functions look every row up by key (a stream by its id, an event by its id), and
-- their plans are generic, made once per connection and kept until the tables' statistics
-- change. A plan made while es_streams was nearly empty (the first appends on a new database)
-- joins by reading the whole table, and goes on doing so on every append as the table grows,
-- until an ANALYZE happens to replace it: a database gaining thousands of streams a minute
-- (deliveries) spent most of each append scanning. Inside these functions a whole-table read is
-- priced high, so every plan probes the indexes whatever the size the tables had when it was
-- made (reading the one-row es_log whole stays the only way, and costs the same).
ALTER FUNCTION es_append_disjoint SET seq_page_cost = 100;
ALTER FUNCTION es_append_group SET seq_page_cost = 100;
