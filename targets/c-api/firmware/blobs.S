/* The artifacts and two FSDD clips, in flash: the artifacts 64-byte aligned (what the loader asks),
 * the WAV files as they are (main.c reads their PCM in place). The assembler finds them through
 * -I (build.sh). */
    .section .rodata.blobs, "a"
    .balign 64
    .global kws_fer, kws_fer_end
kws_fer: .incbin "kws.fer"
kws_fer_end:
    .balign 64
    .global intent_fer, intent_fer_end
intent_fer: .incbin "intent.fer"
intent_fer_end:
    .balign 4
    .global clip_a, clip_a_end
clip_a: .incbin "4_jackson_1.wav"
clip_a_end:
    .balign 4
    .global clip_b, clip_b_end
clip_b: .incbin "9_yweweler_4.wav"
clip_b_end:

/* No executable stack. */
    .section .note.GNU-stack, "", %progbits
