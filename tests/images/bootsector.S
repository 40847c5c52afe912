/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domaind's 512-byte test guest: an x86 boot sector (real mode) that runs
 * under this machine's software-only KVM as well as under TCG.
 *
 * Built by tests/images/build:
 *     as --32 -o bootsector.o bootsector.S
 *     ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o bootsector.bin bootsector.o
 * and padded to a 1 MiB raw disk (bootsector.img).
 *
 * It speaks the same console protocol as the Linux test guest (see
 * tests/images/init), on COM1 (0x3f8):
 *  - prints DOMAIND-BOOTSECTOR-UP once the ACPI power button is armed;
 *  - the ACPI power button (QMP system_powerdown) powers off (ACPI S5);
 *  - one command per line (CR or LF), input not echoed:
 *        poweroff    ACPI S5             -> SHUTDOWN guest-shutdown
 *        reboot      reset through 0xcf9 -> RESET guest-reset, boots again
 *        panic       pvpanic port 0x505  -> GUEST_PANICKED (if -device
 *                    pvpanic), then reboots like Linux with panic=-1
 *        echo TEXT   prints TEXT
 *
 * SeaBIOS places the ACPI PM block at 0x600 on both i440fx (pc) and q35:
 * PM1a_STS 0x600, PM1a_EN 0x602, PM1a_CNT 0x604.  QEMU's SLP_TYP 0 is
 * soft-off.  The CPU halts between events: COM1's receive interrupt
 * (IRQ 4, SeaBIOS's default handler acknowledges it) and the BIOS timer
 * (IRQ 0, 18.2 Hz, for polling the power button status) wake it up.
 */

	.code16
	.text
	.globl	_start

	.set	COM1, 0x3f8
	.set	PM1_STS, 0x600
	.set	PM1_EN, 0x602
	.set	PM1_CNT, 0x604
	.set	PVPANIC, 0x505
	.set	LINEBUF, 0x7e00		/* just after this sector */
	.set	LINEMAX, 120

_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp
	ljmp	$0, $start		/* CS:IP = 0:7c..., whatever the BIOS used */
start:
	cld

	/* COM1: 115200 8N1, FIFO on, DTR|RTS|OUT2, receive interrupt on */
	movw	$uart_init, %si
	movw	$(uart_init_end - uart_init) / 2, %cx
1:	lodsw				/* %al = register, %ah = value */
	movw	$COM1, %dx
	addb	%al, %dl
	movb	%ah, %al
	outb	%al, %dx
	loop	1b

	inb	$0x21, %al		/* unmask IRQ 4 on the master PIC */
	andb	$0xef, %al
	outb	%al, $0x21

	/* arm the power button: clear a stale status, enable the event */
	movw	$0x0100, %ax		/* PWRBTN_STS / PWRBTN_EN */
	movw	$PM1_STS, %dx
	outw	%ax, %dx
	movw	$PM1_EN, %dx
	outw	%ax, %dx

	movw	$marker, %si
	call	puts

reset_line:
	movw	$LINEBUF, %di
	sti
poll:
	movw	$PM1_STS, %dx
	inw	%dx, %ax
	testb	$0x01, %ah		/* PWRBTN_STS */
	jnz	poweroff
	movw	$COM1 + 5, %dx		/* LSR */
	inb	%dx, %al
	testb	$0x01, %al		/* data ready */
	jnz	getc
	hlt
	jmp	poll
getc:
	movw	$COM1, %dx
	inb	%dx, %al
	cmpb	$'\r', %al
	je	eol
	cmpb	$'\n', %al
	je	eol
	cmpw	$LINEBUF + LINEMAX, %di
	jae	poll			/* line too long: drop the rest */
	stosb
	jmp	poll

eol:
	movb	$0, (%di)
	movw	$s_poweroff, %si
	movw	$9, %cx			/* "poweroff\0" */
	call	match
	je	poweroff
	movw	$s_reboot, %si
	movw	$7, %cx			/* "reboot\0" */
	call	match
	je	reboot
	movw	$s_panic, %si
	movw	$6, %cx			/* "panic\0" */
	call	match
	je	panic
	movw	$s_echo, %si
	movw	$5, %cx			/* "echo " (a prefix) */
	call	match
	jne	reset_line
	movw	$LINEBUF + 5, %si
	call	puts
	movw	$crlf, %si
	call	puts
	jmp	reset_line

poweroff:
	movw	$0x2000, %ax		/* SLP_EN, SLP_TYP 0 = S5 on QEMU */
	movw	$PM1_CNT, %dx
	outw	%ax, %dx
	jmp	halt

panic:
	movb	$1, %al			/* PVPANIC_PANICKED */
	movw	$PVPANIC, %dx
	outb	%al, %dx
	/* fall through: reboot, like Linux with panic=-1 */
reboot:
	movb	$0x06, %al		/* reset control register: hard reset */
	movw	$0xcf9, %dx
	outb	%al, %dx
	movb	$0xfe, %al		/* fallback: keyboard controller reset */
	outb	%al, $0x64
halt:
	cli
	hlt
	jmp	halt

/* ZF set if the %cx bytes at %si equal those at LINEBUF */
match:
	movw	$LINEBUF, %di
	repe cmpsb
	ret

/* print the NUL-terminated string at %si */
puts:
	lodsb
	testb	%al, %al
	jz	2f
	movb	%al, %ah
	movw	$COM1 + 5, %dx
1:	inb	%dx, %al
	testb	$0x20, %al		/* transmitter holding register empty */
	jz	1b
	movb	%ah, %al
	movw	$COM1, %dx
	outb	%al, %dx
	jmp	puts
2:	ret

uart_init:
	.byte	3, 0x80			/* LCR: DLAB */
	.byte	0, 0x01			/* DLL: 115200 baud */
	.byte	1, 0x00			/* DLM */
	.byte	3, 0x03			/* LCR: 8N1 */
	.byte	2, 0x07			/* FCR: FIFO on, cleared */
	.byte	4, 0x0b			/* MCR: DTR, RTS, OUT2 (IRQ gate) */
	.byte	1, 0x01			/* IER: receive data available */
uart_init_end:

marker:		.asciz	"DOMAIND-BOOTSECTOR-UP\r\n"
s_poweroff:	.asciz	"poweroff"
s_reboot:	.asciz	"reboot"
s_panic:	.asciz	"panic"
s_echo:		.ascii	"echo "
crlf:		.asciz	"\r\n"

	.org	510
	.word	0xaa55
