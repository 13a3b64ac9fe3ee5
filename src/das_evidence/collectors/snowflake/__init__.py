"""collectors/snowflake"""
