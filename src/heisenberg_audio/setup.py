from setuptools import find_packages, setup

package_name = 'heisenberg_audio'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Heisenberg developers',
    maintainer_email='dev@heisenberg.invalid',
    description='Capture, wake word, speech-to-text and text-to-speech nodes.',
    license='GPL-3.0-or-later',  # runs piper-tts (GPL-3.0-or-later) in-process
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'capture = heisenberg_audio.nodes.capture:main',
            'wake_word = heisenberg_audio.nodes.wake_word:main',
            'stt = heisenberg_audio.nodes.stt:main',
            'tts = heisenberg_audio.nodes.tts:main',
        ],
    },
)
