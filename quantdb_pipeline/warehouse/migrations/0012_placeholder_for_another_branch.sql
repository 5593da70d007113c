-- Placeholder: migration 12 belongs to another branch of the same change set. It keeps this
-- branch's numbers gapless; drop it (and renumber) when the branches are merged.
SELECT 1;
