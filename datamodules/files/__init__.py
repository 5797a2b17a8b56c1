"""What flow data, image data and the weights hub share: atomic writes (:mod:`.atomic`), the
verified cache (:mod:`.cache`) and downloads into it (:mod:`.download`)."""
