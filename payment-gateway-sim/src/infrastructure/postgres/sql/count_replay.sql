UPDATE charges SET replays = replays + 1 WHERE charge_id = $1 RETURNING replays
