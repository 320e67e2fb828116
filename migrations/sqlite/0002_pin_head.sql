-- The commit a pin holds back: `apply` does not roll forward to it until a newer commit
-- arrives or the operator resumes.
ALTER TABLE pins ADD COLUMN head TEXT NULL;
